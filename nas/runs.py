"""Run folders shared by every driver: `runs/<name>/` with config.yaml, metrics, checkpoints.

Every command that trains or searches writes one folder; `--resume` re-opens it and refuses to go
on when the saved config and the new one disagree on something that changes the maths.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from nas.errors import UserError
from nas.io import atomic_write_text, read_yaml_mapping

RUNS_ROOT = Path("runs")
CONFIG_FILE = "config.yaml"


def _slug(text: str) -> str:
    """A file-name-safe form of a model name or arch path (`runs/<prefix>-<slug>-<time>`)."""
    stem = Path(text).stem if text.endswith(".json") else text
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-") or "model"


def run_dir(
    name: str | None,
    prefix: str,
    model: str | None = None,
    root: str | Path = RUNS_ROOT,
) -> Path:
    """The folder of a new run: `root/<name>/`, or `root/<prefix>-<model>-YYYYmmdd-HHMMSS/`.

    An auto name that already exists (two runs in the same second) gets a `-2`, `-3` suffix; an
    explicit `name` is returned as is, and the caller decides whether reusing it is allowed.
    """
    root = Path(root)
    if name:
        if "/" in name or name in (".", ".."):
            raise UserError(f"--name '{name}': expected a plain folder name, not a path")
        return root / name
    parts = [prefix] + ([_slug(model)] if model else []) + [time.strftime("%Y%m%d-%H%M%S")]
    base = root / "-".join(parts)
    path, n = base, 2
    while path.exists():
        path = base.with_name(f"{base.name}-{n}")
        n += 1
    return path


def save_config(folder: str | Path, config: Mapping[str, Any]) -> Path:
    """Write `config.yaml` atomically (keys in the given order, so the file reads top-down)."""
    text = yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=None)
    return atomic_write_text(Path(folder) / CONFIG_FILE, text)


def load_config(folder: str | Path) -> dict[str, Any]:
    """Read a run's `config.yaml`; a folder that is not a run fails with one line."""
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not folder.is_dir():
        raise UserError(f"{folder}: run folder not found")
    if not path.is_file():
        raise UserError(f"{folder}: not a run folder (no {CONFIG_FILE})")
    return read_yaml_mapping(path, "run config")


def config_diff(
    old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = ""
) -> list[str]:
    """Dotted keys whose values differ between two nested configs (added and removed included)."""
    changed: list[str] = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key, _MISSING), new.get(key, _MISSING)
        dotted = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            changed += config_diff(a, b, prefix=f"{dotted}.")
        elif _normalise(a) != _normalise(b):
            changed.append(dotted)
    return changed


def check_same_config(
    folder: str | Path,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    allowed: Iterable[str] = (),
) -> None:
    """Refuse a resume whose config changed, listing the changed keys (except `allowed` ones)."""
    allowed = set(allowed)
    changed = [k for k in config_diff(old, new) if k not in allowed and k.split(".")[-1] not in allowed]
    if changed:
        detail = ", ".join(f"{k} ({_get(old, k)!r} -> {_get(new, k)!r})" for k in changed)
        raise UserError(f"{folder}: cannot resume with a changed config: {detail}")


class _Missing:
    def __repr__(self) -> str:
        return "unset"


_MISSING = _Missing()


def _normalise(value: Any) -> Any:
    """Compare lists and tuples alike, and ints equal to floats alike (YAML round-trips)."""
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _get(config: Mapping[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines log; a half-written last line (a killed run) is skipped."""
    import json

    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def truncate_jsonl(path: str | Path, last_iter: int, drop_kinds: Iterable[str] = ()) -> None:
    """On resume: keep only records up to `last_iter` (the checkpoint's), atomically.

    Records logged after the checkpoint are replayed by the resumed run, so keeping them would
    duplicate lines; `drop_kinds` removes records written once at the end (e.g. `summary`).
    """
    import json

    path = Path(path)
    if not path.exists():
        return
    drop = set(drop_kinds)
    kept = [r for r in read_jsonl(path)
            if r.get("iter", 0) <= last_iter and r.get("kind") not in drop]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept))
