"""Augmentation: reproducible per (seed, epoch, index), and each transform does its job."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nas.data import build_dataset
from nas.data.augment import AugmentConfig, augment, sample_rng


@pytest.fixture
def synth_root(tmp_path: Path) -> Path:
    from nas.data.synth import generate

    return generate(tmp_path / "s", 3, (48, 96), seed=3, split="train")


def _ds(root: Path, seed: int = 0):
    return build_dataset(str(root), "train", crop_hw=(40, 64), augment=True, seed=seed)


def test_same_seed_epoch_index_gives_the_same_sample(synth_root: Path) -> None:
    a, b = _ds(synth_root), _ds(synth_root)
    a.set_epoch(4)
    b.set_epoch(4)
    for i in (2, 0, 1):  # access order must not matter
        xa, ya = a[i]
        xb, yb = b[i]
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert torch.equal(a[1][0], a[1][0])


def test_different_epoch_or_seed_gives_a_different_sample(synth_root: Path) -> None:
    ds = _ds(synth_root)
    ds.set_epoch(0)
    x0, _ = ds[0]
    ds.set_epoch(1)
    x1, _ = ds[0]
    assert not torch.equal(x0, x1)
    other = _ds(synth_root, seed=1)
    other.set_epoch(0)
    assert not torch.equal(other[0][0], x0)


def test_output_shapes_and_types(synth_root: Path) -> None:
    ds = _ds(synth_root)
    for epoch in range(4):
        ds.set_epoch(epoch)
        x, y = ds[0]
        assert x.shape == (3, 40, 64) and x.dtype == torch.float32
        assert y.shape == (40, 64) and y.dtype == torch.int64
        values = set(y.unique().tolist())
        assert values <= set(range(19)) | {255}


def test_scale_down_pads_label_with_ignore_and_image_with_mean() -> None:
    image = np.full((20, 20, 3), 200, np.uint8)
    label = np.full((20, 20), 3, np.uint8)
    cfg = AugmentConfig(
        scales=(0.5,), crop_hw=(16, 16), flip=0.0, brightness=0.0, contrast=0.0, saturation=0.0
    )
    img, lbl = augment(image, label, cfg, sample_rng(0, 0, 0))
    assert (lbl == 3).sum() == 100  # the 10x10 rescaled image
    assert (lbl == 255).sum() == 256 - 100
    pad = lbl == 255
    assert np.allclose(img[pad], [0.485, 0.456, 0.406])
    assert np.allclose(img[~pad], 200 / 255, atol=1e-6)


def test_flip_mirrors_image_and_label_together() -> None:
    image = np.zeros((4, 6, 3), np.uint8)
    image[:, 0] = 255
    label = np.zeros((4, 6), np.uint8)
    label[:, 0] = 7
    cfg = AugmentConfig(
        scales=(1.0,), crop_hw=None, flip=1.0, brightness=0.0, contrast=0.0, saturation=0.0
    )
    img, lbl = augment(image, label, cfg, sample_rng(0, 0, 0))
    assert (lbl[:, -1] == 7).all() and (lbl[:, :-1] == 0).all()
    assert np.allclose(img[:, -1], 1.0) and np.allclose(img[:, 0], 0.0)


def test_scale_up_keeps_label_values_exact() -> None:
    rng = np.random.default_rng(0)
    label = rng.integers(0, 19, (10, 10)).astype(np.uint8)
    image = rng.integers(0, 255, (10, 10, 3)).astype(np.uint8)
    cfg = AugmentConfig(scales=(2.0,), crop_hw=(8, 8))
    _, lbl = augment(image, label, cfg, sample_rng(1, 2, 3))
    assert set(np.unique(lbl)) <= set(np.unique(label))  # nearest: no invented classes


def test_dataloader_workers_see_the_same_samples(synth_root: Path) -> None:
    """Worker processes hold copies of the dataset; the samples must not depend on them."""
    ds = _ds(synth_root)
    ds.set_epoch(2)
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2)
    xb, yb = next(iter(loader))
    for i in range(3):
        x, y = ds[i]
        assert torch.equal(xb[i], x) and torch.equal(yb[i], y)
