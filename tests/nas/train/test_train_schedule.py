"""Poly LR with warm-up: values at known iterations."""

from __future__ import annotations

import pytest
import torch

from nas.train.schedule import PolyWarmupLR


def test_poly_values_without_warmup() -> None:
    s = PolyWarmupLR(base_lr=0.01, total_iters=100, power=0.9)
    assert s.lr_at(0) == pytest.approx(0.01)
    assert s.lr_at(50) == pytest.approx(0.01 * 0.5**0.9)
    assert s.lr_at(90) == pytest.approx(0.01 * 0.1**0.9)
    assert s.lr_at(100) == 0.0
    assert s.lr_at(150) == 0.0  # never negative past the end


def test_linear_warmup_then_poly() -> None:
    s = PolyWarmupLR(base_lr=0.1, total_iters=1000, power=0.9, warmup_iters=10, warmup_ratio=0.1)
    assert s.lr_at(0) == pytest.approx(0.1 * 0.1)
    assert s.lr_at(5) == pytest.approx(0.1 * (1 - 5 / 1000) ** 0.9 * (0.1 + 0.9 * 0.5))
    assert s.lr_at(10) == pytest.approx(0.1 * (1 - 10 / 1000) ** 0.9)
    lrs = [s.lr_at(i) for i in range(0, 11)]
    assert lrs == sorted(lrs)  # rises during warm-up


def test_apply_is_a_pure_function_of_the_iteration() -> None:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [p]}, {"params": [], "lr_mult": 10.0}], lr=1.0)
    s = PolyWarmupLR(base_lr=0.01, total_iters=100)
    s.apply(opt, 70)
    s.apply(opt, 3)
    assert opt.param_groups[0]["lr"] == pytest.approx(s.lr_at(3))
    assert opt.param_groups[1]["lr"] == pytest.approx(10 * s.lr_at(3))
