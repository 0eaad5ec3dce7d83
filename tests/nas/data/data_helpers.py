"""Writing tiny datasets with known ids (shared by the data tests; a unique module name)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def cityscapes_pair(root: Path, split: str, city: str, stem: str, label_ids: np.ndarray) -> tuple:
    h, w = label_ids.shape
    rgb = (np.arange(h * w * 3) % 251).astype(np.uint8).reshape(h, w, 3)
    img = write_png(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", rgb)
    lbl = write_png(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", label_ids)
    return img, lbl
