"""The embedded default dataset: generated once into a cache folder, reused afterwards.

Folder: `$NAS_DATA_DIR/synth-<H>x<W>-<n>-<seed>` (default base `./data`). A marker file is
written last, after every image: a folder without it is a generation that was killed part way,
and it is deleted and redone rather than half-used.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from nas.data.synth import generate
from nas.io import atomic_write_json

DEFAULT_SIZE_HW = (256, 512)
DEFAULT_TRAIN = 160  # ~0.1 s each on one idle core: the whole default in well under a minute
DEFAULT_VAL = 40
DEFAULT_SEED = 0
MARKER = ".complete.json"


def data_dir() -> Path:
    return Path(os.environ.get("NAS_DATA_DIR", "data")).expanduser()


def cache_path(size_hw: tuple[int, int], n: int, seed: int) -> Path:
    return data_dir() / f"synth-{size_hw[0]}x{size_hw[1]}-{n}-{seed}"


def ensure_synth(
    size_hw: tuple[int, int] = DEFAULT_SIZE_HW,
    n_train: int = DEFAULT_TRAIN,
    n_val: int = DEFAULT_VAL,
    seed: int = DEFAULT_SEED,
    root: Path | None = None,
) -> Path:
    """Return a complete generated dataset folder, generating it first if needed."""
    root = root or cache_path(size_hw, n_train, seed)
    params = {"size_hw": list(size_hw), "train": n_train, "val": n_val, "seed": seed}
    marker = root / MARKER
    if marker.is_file():
        try:
            if json.loads(marker.read_text()) == params:
                return root
        except (json.JSONDecodeError, OSError):
            pass
    if root.exists():
        shutil.rmtree(root)  # a killed (or differently parameterised) generation: start over
    print(f"nas: generating the synthetic street dataset into {root}", file=sys.stderr)
    generate(root, n_train, size_hw, seed, "train", progress=True)
    generate(root, n_val, size_hw, seed, "val", progress=True)
    atomic_write_json(marker, params)
    return root


def ensure_default_synth() -> Path:
    return ensure_synth()
