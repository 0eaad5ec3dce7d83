"""Reading and writing arch.json files (the hand-off between search, retrain, export, profile)."""

from __future__ import annotations

import json
from pathlib import Path

from nas.errors import UserError
from nas.io import atomic_write_json
from search_spaces.base import Arch


def load_arch(path: str | Path) -> Arch:
    """Load and validate an arch file; bad files raise a one-line `UserError` naming the file."""
    import search_spaces

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: arch file not found")
    try:
        arch = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: malformed JSON at line {err.lineno}: {err.msg}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file; expected an arch JSON object") from None
    if not isinstance(arch, dict) or "space" not in arch:
        raise UserError(f"{path}: expected a JSON object with a 'space' field")
    try:
        return search_spaces.get(str(arch["space"])).validate(arch)
    except UserError as err:
        raise UserError(f"{path}: {err}") from None


def save_arch(arch: Arch, path: str | Path) -> Path:
    return atomic_write_json(path, arch)
