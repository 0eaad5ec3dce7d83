"""RTSeg eq. 9: the latency loss reaches gates and logits; the attainable range and its check."""

from __future__ import annotations

import pytest
import torch

import search_spaces
from nas.errors import UserError
from nas.search.latency_loss import LatencyLoss, attainable_range, check_target, predicted_ms

HW = (64, 128)  # the deployment input size the conftest predictor was fitted at


@pytest.fixture
def predictor(nas_env):
    from latency.predictors import load_for_device

    return load_for_device("cpu")


def _supernet():
    torch.manual_seed(0)
    net = search_spaces.get("rtseg").supernet(19, preset="tiny")
    net.set_mode("search")
    return net


def test_loss_is_eq9_and_gradient_reaches_every_gate_and_logit(predictor) -> None:
    net = _supernet()
    loss_fn = LatencyLoss(predictor, target_ms=0.01, input_hw=HW)
    loss, ms = loss_fn(net)
    assert float(loss) == pytest.approx((float(ms) - 0.01) ** 2, rel=1e-6)
    loss.backward()
    for name, gate in net.gates.items():
        assert gate.grad is not None and gate.grad.abs().sum() > 0, name
    for key, blk in net.mixed().items():
        assert blk.logits.grad is not None and blk.logits.grad.abs().sum() > 0, key
    # the weights get nothing from the latency term
    assert all(p.grad is None for p in net.weight_parameters())


def test_descending_the_latency_loss_lowers_expected_latency(predictor) -> None:
    net = _supernet()
    loss_fn = LatencyLoss(predictor, target_ms=0.01, input_hw=HW)
    opt = torch.optim.Adam(net.arch_parameters(), lr=0.1)
    start = float(loss_fn.expected_ms(net))
    for _ in range(15):
        loss, _ = loss_fn(net)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss_fn.expected_ms(net)) < 0.9 * start


def test_attainable_range_brackets_the_supernet(predictor) -> None:
    from search_spaces.rtseg import full_arch

    lo, hi = attainable_range("rtseg", {"preset": "tiny"}, predictor, HW, 19)
    full = predicted_ms(predictor, search_spaces.get("rtseg"), full_arch(preset="tiny"), HW, 19)
    assert 0 < lo < hi
    assert full <= hi + 1e-9


def test_infeasible_target_is_refused_with_the_range() -> None:
    check_target(1.5, 1.0, 2.0, "x")
    with pytest.raises(UserError, match=r"infeasible: below .* 1\.000\.\.2\.000 ms"):
        check_target(0.5, 1.0, 2.0, "x")
    with pytest.raises(UserError, match=r"above the largest"):
        check_target(3.0, 1.0, 2.0, "x")
    with pytest.raises(UserError, match="positive"):
        check_target(-1.0, 1.0, 2.0, "x")
