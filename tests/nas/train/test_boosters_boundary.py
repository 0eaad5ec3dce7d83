"""SlimSeg boundary supervision: ground truth, boundary KD and the boundary-guided loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nas.train.boosters.boundary import (
    binary_kd,
    boundary_bce,
    boundary_target,
    guided_ce,
    guided_mask,
)


def test_boundary_target_is_the_two_columns_at_the_seam():
    lab = torch.zeros(1, 8, 8, dtype=torch.long)
    lab[:, :, 4:] = 2
    y = boundary_target(lab)[0, 0]
    assert y.sum(0).tolist() == [0, 0, 0, 8, 8, 0, 0, 0]


def test_unlabelled_pixels_make_no_boundary_and_are_none():
    lab = torch.ones(1, 8, 8, dtype=torch.long)
    lab[:, :, 4:] = 255
    y = boundary_target(lab)
    assert y.sum() == 0


def test_boundary_bce_counts_labelled_pixels_only():
    lab = torch.zeros(1, 8, 8, dtype=torch.long)
    lab[:, :, 4:] = 2
    y = boundary_target(lab)
    assert float(boundary_bce((y * 2 - 1) * 10, y, lab)) < 1e-3
    assert float(boundary_bce(torch.zeros(1, 1, 8, 8), y, torch.full_like(lab, 255))) == 0.0


def test_binary_kd_is_zero_for_equal_maps_and_grows_with_disagreement():
    t = torch.randn(2, 1, 4, 4)
    assert float(binary_kd(t, t)) == pytest.approx(0.0, abs=1e-6)
    assert float(binary_kd(-t, t)) > float(binary_kd(0.5 * t, t)) > 0


def test_guided_ce_is_the_cross_entropy_inside_the_mask():
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 4, 4)
    labels = torch.randint(0, 3, (1, 4, 4))
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[:, :2] = True
    want = F.cross_entropy(logits, labels, reduction="none")[mask].mean()
    assert torch.allclose(guided_ce(logits, labels, mask), want)
    assert float(guided_ce(logits, labels, torch.zeros_like(mask))) == 0.0


def test_guided_mask_thresholds_the_boundary_probability():
    logits = torch.tensor([[[[-5.0, 5.0]]]])
    assert guided_mask(logits, (1, 2), 0.8).tolist() == [[[False, True]]]
