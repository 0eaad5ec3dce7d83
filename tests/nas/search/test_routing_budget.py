"""The routing budget: run probabilities follow what dynamic inference really runs; L_C's
schedule and gradients; the report's per-image executed network equals dynamic inference."""

from __future__ import annotations

import random

import pytest
import torch

import search_spaces
from nas.search.routing_budget import BudgetLoss, GateRecorder, run_probabilities
from nas.search.routing_report import image_arch
from search_spaces.routing.bench import fix_gates
from search_spaces.routing.budget import BudgetConfig
from search_spaces.routing.dynamic import run_image

HW = (32, 64)


def _net(seed: int = 0):
    torch.manual_seed(seed)
    space = search_spaces.get("routing")
    return space, space.supernet(5, **space.small_cfg(), small_gate=True)


def _close_some(net, seed: int) -> set:
    rng = random.Random(seed)
    every = [(i, s, r) for i, s in net.topo.cells() for r in net.topo.allowed_routes(i, s)]
    closed = {k for k in every if rng.random() < 0.4}
    fix_gates(net, closed)
    return closed


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_run_probabilities_match_dynamic_execution(seed: int) -> None:
    _, net = _net(seed)
    _close_some(net, seed)
    x = torch.randn(1, 3, *HW)
    rec = GateRecorder(net)
    net.train()
    net(x.repeat(2, 1, 1, 1))  # gates are input-independent here; BN needs a batch of 2
    probs = run_probabilities(net, rec.gates)
    net.eval()
    _, ex = run_image(net, x)
    ran = {k for k, p in probs.items() if k[2] != "cell" and p.item() > 0.5}
    assert ran == set(ex.routes)
    cells = {(i, s) for (i, s, kind), p in probs.items() if kind == "cell" and p.item() > 0.5}
    assert cells == set(ex.computed)


def test_image_arch_is_the_executed_network() -> None:
    """The static net of one image's routes gives the dynamic logits up to the gate scaling:
    with every open gate at tanh(10) ~= 1, the two agree closely."""
    space, net = _net(3)
    _close_some(net, 3)
    x = torch.randn(1, 3, *HW)
    dyn, ex = run_image(net, x)
    arch = image_arch(net, ex.routes)
    static = space.build(arch, 5).eval()
    space.inherit(static, net, arch)
    with torch.no_grad():
        out = static(x)
    assert torch.allclose(out, dyn, atol=1e-4)


def test_flops_budget_schedule_and_gradient() -> None:
    _, net = _net()
    rec = GateRecorder(net)
    loss = BudgetLoss(BudgetConfig(lam=0.8, mu=0.1), HW, 5)
    net.train()
    net(torch.randn(2, 3, *HW))
    reg, ratio = loss(net, rec.gates, progress=0.1)
    assert float(reg) == 0.0  # official schedule: off for the first 40%
    assert 0.95 < ratio <= 1.0  # gates start open (bias 1.5): nearly every block runs
    net.zero_grad()
    net(torch.randn(2, 3, *HW))
    reg, ratio = loss(net, rec.gates, progress=0.9)
    assert float(reg) == pytest.approx(0.8 * (ratio - 0.1) ** 2, rel=1e-5)  # paper's L_C
    reg.backward()
    grads = [c.gate.logits.bias.grad for c in net.cells.values()]
    assert all(g is not None for g in grads)
    # lowering the cost lowers the gates: the biases' gradient is positive overall (a later
    # gate's input also depends on earlier gates, so single entries may have either sign)
    assert sum(float(g.sum()) for g in grads) > 0


def test_budget_mu_outside_range_is_a_user_error() -> None:
    from nas.errors import UserError

    for mu in (0.0, 1.5, -0.1):
        with pytest.raises(UserError, match="mu"):
            BudgetConfig(lam=0.5, mu=mu)
