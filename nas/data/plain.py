"""The plain folder layout: `images/`, `masks/` and a `classes.yaml`.

For users with their own data that is not Cityscapes. Masks are single-channel PNGs whose value
is the class index (0..num_classes-1) or 255 for "ignore". `classes.yaml` is either a list of
class names or a mapping with a `classes:` list (index = mask value). Images and masks pair by
file stem (`images/a.jpg` <-> `masks/a.png`). Splits are sub-folders (`images/train/`,
`images/val/`); a flat folder has no splits and serves every split name with all of its files.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from nas.errors import UserError

IMAGE_DIR = "images"
MASK_DIR = "masks"
CLASSES_FILE = "classes.yaml"
IMAGE_EXTS = (".png", ".jpg", ".jpeg")


def is_plain(root: Path) -> bool:
    return (root / IMAGE_DIR).is_dir() and (root / MASK_DIR).is_dir()


def read_classes(root: Path) -> list[str]:
    """Class names from `classes.yaml`, index = mask value; a bad file raises `UserError`."""
    path = root / CLASSES_FILE
    if not path.is_file():
        raise UserError(f"{path}: not found; a plain dataset needs a list of class names there")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if isinstance(data, dict):
        data = data.get("classes")
    if not isinstance(data, list) or not data or not all(isinstance(n, str) for n in data):
        raise UserError(
            f"{path}: expected a non-empty list of class names (or a mapping with 'classes:')"
        )
    if len(data) > 255:
        raise UserError(f"{path}: at most 255 classes (255 is the ignore value), got {len(data)}")
    return list(data)


def _split_dirs(root: Path, split: str) -> tuple[Path, Path]:
    images, masks = root / IMAGE_DIR, root / MASK_DIR
    if (images / split).is_dir() or (masks / split).is_dir():
        return images / split, masks / split
    return images, masks


def find_pairs(root: Path, split: str) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Pair images with masks by stem; returns the pairs and the pairing problems found."""
    image_dir, mask_dir = _split_dirs(root, split)
    for folder in (image_dir, mask_dir):
        if not folder.is_dir():
            return [], [f"{folder}: folder not found"]
    images = {p.stem: p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_EXTS}
    masks = {p.stem: p for p in mask_dir.iterdir() if p.suffix.lower() == ".png"}
    problems = [
        f"{images[s]}: image has no mask; expected {mask_dir / (s + '.png')}"
        for s in sorted(images.keys() - masks.keys())
    ] + [
        f"{masks[s]}: mask has no image; expected {image_dir / s}.png (or .jpg)"
        for s in sorted(masks.keys() - images.keys())
    ]
    pairs = [(images[s], masks[s]) for s in sorted(images.keys() & masks.keys())]
    if not pairs and not problems:
        problems.append(f"{image_dir}: no images (*.png, *.jpg) found")
    return pairs, problems


def list_splits(root: Path) -> list[str]:
    """Sub-folders of `images/`, or `[""]` meaning "one flat, unsplit folder"."""
    subdirs = sorted(p.name for p in (root / IMAGE_DIR).iterdir() if p.is_dir())
    return subdirs or [""]
