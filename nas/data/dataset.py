"""`SegDataset` and `build_dataset`: the one entry point training, search and export use for data.

`build_dataset` accepts a folder (layout auto-detected) or the word "synth" (the embedded
procedural default, generated once into a cache). Pairing problems are found here, at
construction, so a run fails before its first step; per-file problems (corrupt PNG, size
mismatch, unknown ids) are found when a sample is loaded (`nas data check` scans them all).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from nas.data.augment import (
    AugmentConfig,
    augment,
    center_crop,
    normalise,
    sample_rng,
)
from nas.data.cityscapes import IGNORE_INDEX
from nas.data.layout import Layout, detect_layout
from nas.errors import UserError

DEFAULT_SCALES = (0.5, 0.75, 1.0, 1.5, 2.0)


class SegDataset(torch.utils.data.Dataset):
    """Image/label pairs of one split, as normalised tensors.

    `__getitem__(i)` returns image float32 [3, H, W] (ImageNet mean/std) and label int64 [H, W]
    (trainIds, 255 ignored). With `augment=True` sample i of epoch e is a pure function of
    (seed, e, i); call `set_epoch(e)` before each epoch. DataLoader workers hold copies of the
    dataset, so use non-persistent workers (the default) for `set_epoch` to reach them.
    """

    ignore_index: int = IGNORE_INDEX

    def __init__(
        self,
        layout: Layout,
        split: str,
        pairs: list[tuple[Path, Path]],
        *,
        crop_hw: tuple[int, int] | None = None,
        augment: bool = False,
        scales: tuple[float, ...] = DEFAULT_SCALES,
        seed: int = 0,
    ) -> None:
        self.layout = layout
        self.split = split
        self.pairs = pairs
        self.crop_hw = crop_hw
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.aug_cfg = AugmentConfig(scales=tuple(scales), crop_hw=crop_hw)
        self.class_names: list[str] = list(layout.class_names)
        self.num_classes: int = len(self.class_names)

    def __len__(self) -> int:
        return len(self.pairs)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of `epoch` (no effect without augmentation)."""
        self.epoch = int(epoch)

    def load_raw(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample i before any transform: RGB uint8 [H, W, 3] and trainIds uint8 [H, W]."""
        return self.layout.load_pair(*self.pairs[i])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= i < len(self.pairs):
            raise IndexError(i)
        image, label = self.load_raw(i)
        if self.augment:
            img, label = augment(image, label, self.aug_cfg, sample_rng(self.seed, self.epoch, i))
        elif self.crop_hw is not None:
            img, label = center_crop(image, label, self.crop_hw)
        else:
            img = image.astype(np.float32) / 255.0
        return (
            torch.from_numpy(normalise(img)),
            torch.from_numpy(np.ascontiguousarray(label).astype(np.int64)),
        )

    def __repr__(self) -> str:
        return (
            f"SegDataset({self.layout.kind} {self.layout.root}, split={self.split!r}, "
            f"n={len(self)}, classes={self.num_classes}, augment={self.augment})"
        )


def _check_args(crop_hw: tuple[int, int] | None, scales: tuple[float, ...]) -> None:
    if crop_hw is not None and (len(crop_hw) != 2 or min(crop_hw) < 1):
        raise UserError(f"crop_hw: expected two positive integers (H, W), got {crop_hw!r}")
    if not scales or any(not s > 0 for s in scales):
        raise UserError(f"scales: expected a non-empty set of positive factors, got {scales!r}")


def build_dataset(
    source: str,
    split: str = "train",
    *,
    crop_hw: tuple[int, int] | None = None,
    augment: bool = False,
    scales: tuple[float, ...] = DEFAULT_SCALES,
    seed: int = 0,
) -> SegDataset:
    """Open a dataset by folder, or "synth" for the embedded generated default.

    Args:
        source: a dataset directory (Cityscapes or plain layout) or "synth".
        split: the split folder name ("train", "val", ...).
        crop_hw: output size; random crops when augmenting, centre crops otherwise.
        augment: apply the paper's random scale / crop / flip / colour jitter.
        scales: the random-rescale factors.
        seed: the dataset's augmentation seed (with the epoch and index, it fixes each sample).
    """
    _check_args(crop_hw, scales)
    if source == "synth":
        from nas.data.synth_cache import ensure_default_synth

        root: Path = ensure_default_synth()
    else:
        root = Path(source).expanduser()
    layout = detect_layout(root)
    pairs, problems = layout.find_pairs(split)
    if problems:
        more = (
            f" (and {len(problems) - 1} more; run `nas data check {root}`)"
            if len(problems) > 1
            else ""
        )
        raise UserError(problems[0] + more)
    return SegDataset(
        layout,
        split,
        pairs,
        crop_hw=tuple(crop_hw) if crop_hw is not None else None,
        augment=augment,
        scales=tuple(scales),
        seed=seed,
    )
