"""Tiny hand-written datasets on disk, with known ids, for the data tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_helpers import cityscapes_pair, write_png


@pytest.fixture
def tiny_cityscapes(tmp_path: Path) -> Path:
    """Two train images and one val image; columns hold known labelIds."""
    root = tmp_path / "cs"
    ids = np.zeros((8, 12), dtype=np.uint8)
    ids[:, 0:3] = 7  # road -> 0
    ids[:, 3:6] = 26  # car -> 13
    ids[:, 6:9] = 33  # bicycle -> 18
    ids[:, 9:12] = 4  # static -> 255
    cityscapes_pair(root, "train", "aachen", "aachen_000000_000019", ids)
    cityscapes_pair(root, "train", "bremen", "bremen_000001_000019", np.full((8, 12), 23, np.uint8))
    cityscapes_pair(root, "val", "lindau", "lindau_000000_000019", np.full((8, 12), 11, np.uint8))
    return root


@pytest.fixture
def tiny_plain(tmp_path: Path) -> Path:
    root = tmp_path / "plain"
    (root).mkdir()
    (root / "classes.yaml").write_text("classes: [background, cat, dog]\n")
    mask = np.zeros((6, 10), dtype=np.uint8)
    mask[:, 5:] = 2
    mask[0, :] = 255
    write_png(root / "images" / "a.png", np.full((6, 10, 3), 100, np.uint8))
    write_png(root / "masks" / "a.png", mask)
    write_png(root / "images" / "b.jpg", np.full((6, 10, 3), 30, np.uint8))
    write_png(root / "masks" / "b.png", np.ones((6, 10), np.uint8))
    return root
