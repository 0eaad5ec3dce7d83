"""The plain images/ + masks/ + classes.yaml layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nas.data import build_dataset
from nas.errors import UserError


def test_plain_layout_loads_masks_as_class_indices(tiny_plain: Path) -> None:
    ds = build_dataset(str(tiny_plain), "train")
    assert ds.class_names == ["background", "cat", "dog"] and ds.num_classes == 3
    assert len(ds) == 2
    image, label = ds[0]  # a.png
    assert image.shape == (3, 6, 10)
    assert label[0].eq(255).all()
    assert label[1:, :5].eq(0).all() and label[1:, 5:].eq(2).all()
    assert ds[1][1].eq(1).all()  # b.jpg pairs with b.png


def test_plain_split_subfolders(tmp_path: Path) -> None:
    root = tmp_path / "p"
    for split, value in (("train", 0), ("val", 1)):
        for sub, arr in (
            ("images", np.zeros((4, 4, 3), np.uint8)),
            ("masks", np.full((4, 4), value, np.uint8)),
        ):
            (root / sub / split).mkdir(parents=True)
            Image.fromarray(arr).save(root / sub / split / "x.png")
    (root / "classes.yaml").write_text("- a\n- b\n")
    assert build_dataset(str(root), "val")[0][1].eq(1).all()
    assert build_dataset(str(root), "train")[0][1].eq(0).all()


@pytest.mark.parametrize("text", ["", "classes: 3\n", "[1, 2]\n", "classes: [a, b\n"])
def test_bad_classes_yaml(tiny_plain: Path, text: str) -> None:
    (tiny_plain / "classes.yaml").write_text(text)
    with pytest.raises(UserError, match="classes.yaml"):
        build_dataset(str(tiny_plain))


def test_missing_classes_yaml(tiny_plain: Path) -> None:
    (tiny_plain / "classes.yaml").unlink()
    with pytest.raises(UserError, match="classes.yaml: not found"):
        build_dataset(str(tiny_plain))
