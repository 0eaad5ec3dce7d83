"""Losses: CE ignores 255, OHEM keeps the hard pixels, KD is KL(q_s || q_t), aux sums heads."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from nas.train.losses import aux_loss, cross_entropy, kd_loss, ohem_cross_entropy


def test_ce_ignores_255_and_upsamples() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 8, 8)
    target = torch.randint(0, 4, (2, 8, 8))
    masked = target.clone()
    masked[:, :4] = 255
    expected = F.cross_entropy(logits[:, :, 4:], target[:, 4:])
    assert cross_entropy(logits, masked).item() == pytest.approx(expected.item(), rel=1e-6)
    # logits at half resolution are upsampled to the label size
    small = torch.randn(2, 4, 4, 4)
    up = F.interpolate(small, size=(8, 8), mode="bilinear", align_corners=False)
    assert cross_entropy(small, target).item() == pytest.approx(
        F.cross_entropy(up, target).item(), rel=1e-6
    )


def test_ce_all_ignored_is_zero_not_nan() -> None:
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    loss = cross_entropy(logits, torch.full((1, 4, 4), 255))
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None


def test_ohem_keeps_only_hard_pixels_but_at_least_min_kept() -> None:
    # 4 pixels, true class 0; p(true) = 0.9, 0.6, 0.3, 0.1 via two-class logits
    probs = torch.tensor([0.9, 0.6, 0.3, 0.1])
    logits = torch.stack([torch.log(probs), torch.log(1 - probs)])[None, :, None, :]
    target = torch.zeros(1, 1, 4, dtype=torch.long)
    per_pixel = -torch.log(probs)
    hard = ohem_cross_entropy(logits, target, thresh=0.7, min_kept=1)
    assert hard.item() == pytest.approx(per_pixel[1:].mean().item(), rel=1e-5)
    # min_kept raises the threshold: all 4 pixels once min_kept = 4
    all4 = ohem_cross_entropy(logits, target, thresh=0.2, min_kept=4)
    assert all4.item() == pytest.approx(per_pixel.mean().item(), rel=1e-5)
    # threshold 0.2 with min_kept 2: the two hardest (0.1, 0.3)
    two = ohem_cross_entropy(logits, target, thresh=0.2, min_kept=2)
    assert two.item() == pytest.approx(per_pixel[2:].mean().item(), rel=1e-5)


def test_kd_zero_when_student_equals_teacher() -> None:
    logits = torch.randn(2, 5, 6, 6)
    assert kd_loss(logits, logits.clone(), temperature=2.0).item() == pytest.approx(0, abs=1e-6)


def test_kd_matches_paper_direction_with_temperature() -> None:
    torch.manual_seed(1)
    s, t = torch.randn(1, 3, 2, 2), torch.randn(1, 3, 2, 2)
    T = 2.0
    qs, qt = F.softmax(s / T, 1), F.softmax(t / T, 1)
    # RTSeg eq. 11 with P = q_s: sum q_s log(q_s / q_t), mean over the 4 pixels, times T^2
    expected = (qs * (qs / qt).log()).sum(1).mean() * T * T
    got = kd_loss(s, t, temperature=T)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    reverse = (qt * (qt / qs).log()).sum(1).mean() * T * T
    assert not math.isclose(got.item(), reverse.item(), rel_tol=1e-3)  # direction matters


def test_kd_positive_grad_flows_to_student_only_and_ignores_255() -> None:
    torch.manual_seed(2)
    s = torch.randn(1, 4, 4, 4, requires_grad=True)
    t = torch.randn(1, 4, 8, 8, requires_grad=True)
    target = torch.zeros(1, 8, 8, dtype=torch.long)
    target[:, :, :4] = 255
    loss = kd_loss(s, t, temperature=1.0, target=target)
    assert loss.item() > 0
    loss.backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None  # the teacher is detached
    # only the unignored half counts: changing the teacher there changes nothing
    t2 = t.detach().clone()
    t2[:, :, :, :4] += 10.0
    s_up = s.detach()
    assert kd_loss(s_up, t2, target=target).item() == pytest.approx(
        kd_loss(s_up, t.detach(), target=target).item(), rel=1e-6
    )


def test_aux_loss_sums_weighted_heads_at_label_size() -> None:
    torch.manual_seed(3)
    target = torch.randint(0, 3, (2, 8, 8))
    heads = [torch.randn(2, 3, 4, 4, requires_grad=True), torch.randn(2, 3, 2, 2)]
    loss = aux_loss(heads, target, weights=[1.0, 0.5])
    expected = cross_entropy(heads[0], target) + 0.5 * cross_entropy(heads[1], target)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    loss.backward()
    assert heads[0].grad is not None
    with pytest.raises(ValueError):
        aux_loss(heads, target, weights=[1.0])
