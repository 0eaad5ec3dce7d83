"""Checkpoints that survive a kill at any moment, including in the middle of their own write.

`checkpoints/last.pt` is always a complete file: the new one is written to a temp file and
renamed over it (`nas.io.atomic_write`). Before that, the current `last.pt` is hard-linked to
`prev.pt`, so a second good copy exists even if `last.pt` is later found unreadable (a disk that
lied about fsync). Loading tries `last.pt`, then `prev.pt`.

A checkpoint holds the model, the optimiser, the iteration, every RNG state (python, numpy,
torch, cuda), the config and the model identity; it loads with `weights_only=True`.
"""

from __future__ import annotations

import io
import os
import random
import signal
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.errors import UserError
from nas.io import atomic_write

LAST = "last.pt"
PREV = "prev.pt"
FORMAT = 1
# Fault injection for the resume tests: kill the process half-way through the checkpoint write of
# this iteration, after the temp file holds part of the bytes and before the rename.
KILL_IN_CKPT_ENV = "NAS_FAULT_KILL_IN_CKPT_AT"


def rng_state() -> dict[str, Any]:
    """Every RNG a training step may draw from, in a form `weights_only` loading accepts."""
    version, keys, gauss = random.getstate()
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(keys), gauss],
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, keys, gauss = state["python"]
    random.setstate((version, tuple(keys), gauss))
    npst = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            npst["keys"].numpy().astype(np.uint32),
            npst["pos"],
            npst["has_gauss"],
            npst["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(folder: str | Path, state: dict[str, Any]) -> Path:
    """Write `state` as `folder/last.pt`, keeping the previous one as `prev.pt`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    last, prev = folder / LAST, folder / PREV
    if last.exists():
        _link_or_copy(last, prev)
    buf = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buf)
    data = buf.getvalue()
    kill_at = os.environ.get(KILL_IN_CKPT_ENV)

    def write(f) -> None:
        if kill_at is not None and int(kill_at) == state.get("iteration"):
            f.write(data[: len(data) // 2])
            f.flush()
            os.fsync(f.fileno())
            print(f"fault injection: killed while writing {last}", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        f.write(data)

    return atomic_write(last, write)


def _link_or_copy(src: Path, dst: Path) -> None:
    """Make `dst` a complete copy of `src` atomically (hard link where the FS allows it)."""
    tmp = dst.with_name(f".{dst.name}.link.tmp")
    if tmp.exists():
        tmp.unlink()
    try:
        os.link(src, tmp)
    except OSError:
        atomic_write(tmp, lambda f: f.write(src.read_bytes()))
    os.replace(tmp, dst)


def find_checkpoint(folder: str | Path) -> Path | None:
    folder = Path(folder)
    for name in (LAST, PREV):
        if (folder / name).is_file():
            return folder / name
    return None


def load_checkpoint(folder_or_file: str | Path, map_location: str = "cpu") -> dict[str, Any]:
    """Load the newest readable checkpoint of a folder (or one file); stale temp files go away.

    Raises `UserError` when there is none, naming the folder.
    """
    path = Path(folder_or_file)
    if path.is_file():
        candidates = [path]
    else:
        for stale in path.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        candidates = [path / n for n in (LAST, PREV) if (path / n).is_file()]
    if not candidates:
        raise UserError(f"{path}: no checkpoint ({LAST} or {PREV}) to resume from")
    errors = []
    for candidate in candidates:
        try:
            state = torch.load(candidate, map_location=map_location, weights_only=True)
        except Exception as err:  # a truncated or foreign file: try the older copy
            errors.append(f"{candidate.name}: {type(err).__name__}")
            continue
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            errors.append(f"{candidate.name}: not a nas training checkpoint")
            continue
        if errors:
            print(f"warning: {'; '.join(errors)}; using {candidate}", file=sys.stderr)
        state["path"] = str(candidate)
        return state
    raise UserError(f"{path}: no readable checkpoint ({'; '.join(errors)})")
