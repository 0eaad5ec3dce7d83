"""The Cityscapes label set and folder layout.

The table below restates the official Cityscapes definition (ids, names, trainIds, categories and
colours as published with the dataset) so that we need no extra dependency: 34 labelIds of which
19 are trained on; every other id maps to trainId 255, which the loss and the metrics ignore.

Layout: `leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png` paired with
`gtFine/<split>/<city>/<stem>_gtFine_labelIds.png`. The synthetic generator writes the same layout
with the same ids, so one loader serves real and generated data.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

IGNORE_INDEX = 255
IMAGE_DIR = "leftImg8bit"
LABEL_DIR = "gtFine"
IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"


class Label(NamedTuple):
    """One row of the official table: `train_id` 255 means "not trained on, ignored"."""

    id: int
    name: str
    train_id: int
    category: str
    color: tuple[int, int, int]


LABEL_TABLE: tuple[Label, ...] = (
    Label(0, "unlabeled", 255, "void", (0, 0, 0)),
    Label(1, "ego vehicle", 255, "void", (0, 0, 0)),
    Label(2, "rectification border", 255, "void", (0, 0, 0)),
    Label(3, "out of roi", 255, "void", (0, 0, 0)),
    Label(4, "static", 255, "void", (0, 0, 0)),
    Label(5, "dynamic", 255, "void", (111, 74, 0)),
    Label(6, "ground", 255, "void", (81, 0, 81)),
    Label(7, "road", 0, "flat", (128, 64, 128)),
    Label(8, "sidewalk", 1, "flat", (244, 35, 232)),
    Label(9, "parking", 255, "flat", (250, 170, 160)),
    Label(10, "rail track", 255, "flat", (230, 150, 140)),
    Label(11, "building", 2, "construction", (70, 70, 70)),
    Label(12, "wall", 3, "construction", (102, 102, 156)),
    Label(13, "fence", 4, "construction", (190, 153, 153)),
    Label(14, "guard rail", 255, "construction", (180, 165, 180)),
    Label(15, "bridge", 255, "construction", (150, 100, 100)),
    Label(16, "tunnel", 255, "construction", (150, 120, 90)),
    Label(17, "pole", 5, "object", (153, 153, 153)),
    Label(18, "polegroup", 255, "object", (153, 153, 153)),
    Label(19, "traffic light", 6, "object", (250, 170, 30)),
    Label(20, "traffic sign", 7, "object", (220, 220, 0)),
    Label(21, "vegetation", 8, "nature", (107, 142, 35)),
    Label(22, "terrain", 9, "nature", (152, 251, 152)),
    Label(23, "sky", 10, "sky", (70, 130, 180)),
    Label(24, "person", 11, "human", (220, 20, 60)),
    Label(25, "rider", 12, "human", (255, 0, 0)),
    Label(26, "car", 13, "vehicle", (0, 0, 142)),
    Label(27, "truck", 14, "vehicle", (0, 0, 70)),
    Label(28, "bus", 15, "vehicle", (0, 60, 100)),
    Label(29, "caravan", 255, "vehicle", (0, 0, 90)),
    Label(30, "trailer", 255, "vehicle", (0, 0, 110)),
    Label(31, "train", 16, "vehicle", (0, 80, 100)),
    Label(32, "motorcycle", 17, "vehicle", (0, 0, 230)),
    Label(33, "bicycle", 18, "vehicle", (119, 11, 32)),
    # id -1 never appears in labelIds PNGs (they are uint8); listed for completeness.
    Label(-1, "license plate", 255, "vehicle", (0, 0, 142)),
)

LABEL_BY_NAME: dict[str, Label] = {label.name: label for label in LABEL_TABLE}

#: The 19 trained classes, index = trainId.
TRAIN_CLASSES: tuple[str, ...] = tuple(
    label.name for label in sorted(LABEL_TABLE, key=lambda lb: lb.train_id) if label.train_id != 255
)
NUM_CLASSES = len(TRAIN_CLASSES)

#: Visualisation colours, row = trainId (uint8 [19, 3]).
TRAIN_COLORS: np.ndarray = np.array(
    [LABEL_BY_NAME[name].color for name in TRAIN_CLASSES], dtype=np.uint8
)


def _lookup_tables() -> tuple[np.ndarray, np.ndarray]:
    to_train = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    known = np.zeros(256, dtype=bool)
    for label in LABEL_TABLE:
        if label.id >= 0:
            to_train[label.id] = label.train_id
            known[label.id] = True
    return to_train, known


#: labelId -> trainId for every uint8 value; unknown ids also map to 255, check KNOWN_ID first.
ID_TO_TRAINID, KNOWN_ID = _lookup_tables()


def to_train_ids(label_ids: np.ndarray) -> np.ndarray:
    """Map a labelIds array (uint8) to trainIds with one table lookup."""
    return ID_TO_TRAINID[label_ids]


def colorize(train_ids: np.ndarray) -> np.ndarray:
    """trainIds [H, W] -> RGB uint8 [H, W, 3] in the official colours; ignored pixels black."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[:NUM_CLASSES] = TRAIN_COLORS
    return palette[train_ids.astype(np.uint8)]


def is_cityscapes(root: Path) -> bool:
    return (root / IMAGE_DIR).is_dir() and (root / LABEL_DIR).is_dir()


def find_pairs(root: Path, split: str) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Pair every image of `split` with its labelIds file.

    Returns the pairs (sorted, so the dataset index is stable) and the pairing problems found
    (an image without its label, a label without its image, a missing split folder): the dataset
    raises the first one, `nas data check` reports them all.
    """
    image_root = root / IMAGE_DIR / split
    label_root = root / LABEL_DIR / split
    problems: list[str] = []
    if not image_root.is_dir():
        return [], [f"{image_root}: split folder not found; expected {IMAGE_DIR}/{split}/<city>/"]
    if not label_root.is_dir():
        return [], [f"{label_root}: split folder not found; expected {LABEL_DIR}/{split}/<city>/"]
    images = {
        p.relative_to(image_root).as_posix()[: -len(IMAGE_SUFFIX)]: p
        for p in image_root.glob(f"*/*{IMAGE_SUFFIX}")
    }
    labels = {
        p.relative_to(label_root).as_posix()[: -len(LABEL_SUFFIX)]: p
        for p in label_root.glob(f"*/*{LABEL_SUFFIX}")
    }
    for key in sorted(images.keys() - labels.keys()):
        problems.append(
            f"{images[key]}: image has no label; expected {label_root / (key + LABEL_SUFFIX)}"
        )
    for key in sorted(labels.keys() - images.keys()):
        problems.append(
            f"{labels[key]}: label has no image; expected {image_root / (key + IMAGE_SUFFIX)}"
        )
    pairs = [(images[k], labels[k]) for k in sorted(images.keys() & labels.keys())]
    if not pairs and not problems:
        problems.append(f"{image_root}: no *{IMAGE_SUFFIX} files found")
    return pairs, problems


def list_splits(root: Path) -> list[str]:
    """The split folders present under `leftImg8bit/` (e.g. train, val, test)."""
    return sorted(p.name for p in (root / IMAGE_DIR).iterdir() if p.is_dir())
