"""Segmentation data: Cityscapes and plain folder layouts, the procedural default, augmentation.

`build_dataset(source, split, ...)` is the entry point; see nas/data/dataset.py.
"""

from nas.data.dataset import SegDataset, build_dataset

__all__ = ["SegDataset", "build_dataset"]
