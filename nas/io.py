"""Atomic file writes: a reader (or a resumed run) sees the old file or the new one, never half.

Every file we write that a later step reads (checkpoints, arch.json, summaries, predictor
weights) goes through here: write to a temp file in the same folder, fsync, then `os.replace`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call `write(f)` on a temp file beside `path`, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    # mkstemp creates 0600; give the file the mode a plain open() would (0666 minus umask).
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def atomic_torch_save(path: str | os.PathLike, obj: Any) -> Path:
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f))


def read_yaml_mapping(
    path: str | os.PathLike, what: str = "file", expected: str = "a mapping"
) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping (configs, device files, run configs).

    Every user mistake is one `UserError` naming the file: missing (`<what> not found`), not
    YAML (with the line), or not a mapping. An empty file is an empty mapping.
    """
    import yaml

    from nas.errors import UserError

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {what} not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"{path}: malformed YAML{where}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file; expected YAML") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected {expected}, got {type(data).__name__}")
    return data
