"""Which folder layout a dataset directory uses, and how its raw label values become trainIds.

Two layouts share one interface so the dataset, `nas data check` and the benchmark never branch
on the format: Cityscapes (labelIds + the official id->trainId table) and plain (mask value =
class index from `classes.yaml`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nas.data import cityscapes, plain
from nas.data.files import read_image, read_label
from nas.errors import UserError


@dataclass(frozen=True)
class Layout:
    """A detected dataset folder.

    Args:
        root: the dataset directory.
        kind: "cityscapes" or "plain".
        class_names: the trained classes, index = trainId.
        lookup: raw label value -> trainId (256 entries, 255 = ignored).
        known: raw label value -> whether the value is allowed in a label file at all.
    """

    root: Path
    kind: str
    class_names: tuple[str, ...]
    lookup: np.ndarray
    known: np.ndarray

    def find_pairs(self, split: str) -> tuple[list[tuple[Path, Path]], list[str]]:
        module = cityscapes if self.kind == "cityscapes" else plain
        return module.find_pairs(self.root, split)

    def splits(self) -> list[str]:
        module = cityscapes if self.kind == "cityscapes" else plain
        return module.list_splits(self.root)

    def to_train_ids(self, raw: np.ndarray, path: Path) -> np.ndarray:
        """Map raw label values to trainIds; a value outside the table is a `UserError`."""
        present = np.flatnonzero(np.bincount(raw.ravel(), minlength=256))
        bad = present[~self.known[present]]
        if bad.size:
            what = (
                "unknown Cityscapes labelId(s)"
                if self.kind == "cityscapes"
                else f"mask value(s) outside classes.yaml (0..{len(self.class_names) - 1} or 255)"
            )
            shown = ", ".join(str(int(v)) for v in bad[:8])
            raise UserError(f"{path}: {what}: {shown}")
        return self.lookup[raw]

    def load_pair(self, image_path: Path, label_path: Path) -> tuple[np.ndarray, np.ndarray]:
        """Read one pair: RGB uint8 [H, W, 3] and trainIds uint8 [H, W], validated."""
        image = read_image(image_path)
        raw = read_label(label_path)
        if image.shape[:2] != raw.shape:
            raise UserError(
                f"{label_path}: label is {raw.shape[0]}x{raw.shape[1]} but its image "
                f"{image_path.name} is {image.shape[0]}x{image.shape[1]}; expected equal sizes"
            )
        return image, self.to_train_ids(raw, label_path)


def detect_layout(root: str | Path) -> Layout:
    """Inspect `root` and return its layout; a missing or unrecognised folder is a `UserError`."""
    root = Path(root)
    if not root.exists():
        raise UserError(f"{root}: dataset directory not found")
    if not root.is_dir():
        raise UserError(f"{root}: expected a dataset directory, got a file")
    if cityscapes.is_cityscapes(root):
        return Layout(
            root=root,
            kind="cityscapes",
            class_names=cityscapes.TRAIN_CLASSES,
            lookup=cityscapes.ID_TO_TRAINID,
            known=cityscapes.KNOWN_ID,
        )
    if plain.is_plain(root):
        names = plain.read_classes(root)
        lookup = np.full(256, cityscapes.IGNORE_INDEX, dtype=np.uint8)
        lookup[: len(names)] = np.arange(len(names), dtype=np.uint8)
        known = np.zeros(256, dtype=bool)
        known[: len(names)] = True
        known[cityscapes.IGNORE_INDEX] = True
        return Layout(root=root, kind="plain", class_names=tuple(names), lookup=lookup, known=known)
    raise UserError(
        f"{root}: unrecognised dataset layout; expected leftImg8bit/ + gtFine/ (Cityscapes) "
        "or images/ + masks/ + classes.yaml (plain)"
    )
