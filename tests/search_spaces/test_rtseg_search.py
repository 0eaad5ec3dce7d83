"""Width search (DWBC gates + STE, RTSeg eq. 3-6) and block search (Gumbel, eq. 7) on a CPU-sized
supernet, and the differentiable latency terms (eq. 9)."""

from __future__ import annotations

import pytest
import torch

import search_spaces
from search_spaces.rtseg.config import OPS
from search_spaces.rtseg.gates import gumbel_hard, ste_binarize
from search_spaces.rtseg.supernet import RTSegSupernet

X_HW = (64, 96)


@pytest.fixture
def supernet() -> RTSegSupernet:
    torch.manual_seed(0)
    space = search_spaces.get("rtseg")
    return space.supernet(5, **space.small_cfg())


def test_ste_forward_is_binary_and_backward_is_identity() -> None:
    c = torch.tensor([1.0, 0.6, 0.5, 0.2, -0.3], requires_grad=True)
    b = ste_binarize(c)
    assert b.tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]  # eq. 3 with T_h = 0.5 (strict >)
    upstream = torch.tensor([0.3, -1.0, 2.0, 0.5, 4.0])
    b.backward(upstream)
    assert torch.equal(c.grad, upstream)  # eq. 6: dL/dc = dL/db


def test_gumbel_hard_is_one_hot_with_gradient_to_logits() -> None:
    torch.manual_seed(0)
    logits = torch.tensor([0.1, 0.5, -0.2], requires_grad=True)
    seen = set()
    for _ in range(60):
        h = gumbel_hard(logits, tau=1.0)
        assert sorted(h.detach().tolist()) == [0.0, 0.0, 1.0]
        seen.add(int(h.argmax()))
    assert seen == {0, 1, 2}  # every path gets sampled
    h = gumbel_hard(logits, tau=0.5)
    (h * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_search_step_reaches_gates_logits_and_weights(supernet: RTSegSupernet) -> None:
    supernet.set_mode("search")
    supernet.set_tau(0.7)
    supernet.train()
    out = supernet(torch.randn(2, 3, *X_HW))
    assert set(out) == {"out", "aux"} and len(out["aux"]) == 4
    assert out["out"].shape == (2, 5, *X_HW)
    loss = out["out"].square().mean() + sum(a.square().mean() for a in out["aux"])
    loss.backward()
    for blk in supernet.mixed().values():
        assert blk.tau == 0.7
        assert blk.logits.grad is not None and blk.logits.grad.abs().sum() > 0
    assert supernet.gates["seg5"].grad.abs().sum() > 0
    assert supernet.gates["detail1_0"].grad.abs().sum() > 0
    assert supernet.detail[0].conv.weight.grad.abs().sum() > 0


def test_arch_and_weight_parameters_partition_the_supernet(supernet: RTSegSupernet) -> None:
    arch = {id(p) for p in supernet.arch_parameters()}
    weights = {id(p) for p in supernet.weight_parameters()}
    assert not arch & weights
    assert arch | weights == {id(p) for p in supernet.parameters()}
    assert len(arch) == len(supernet.gates) + len(supernet.mixed())


def test_plain_mode_ignores_gates_and_runs_lir(supernet: RTSegSupernet) -> None:
    supernet.eval()
    x = torch.randn(1, 3, *X_HW)
    with torch.no_grad():
        ref = supernet(x)
        supernet.gates["seg4"][:3] = 0.0  # prune three channels
        for blk in supernet.mixed().values():
            blk.logits.copy_(torch.tensor([0.0, 0.0, 5.0]))  # prefer MHSA
        assert torch.equal(supernet(x), ref)  # plain: every channel, LIR everywhere
        supernet.set_mode("search")
        assert not torch.allclose(supernet(x), ref)
    arch = supernet.derive()
    assert len(arch["channels"]["seg4"]) == 16 - 3
    assert all(op == "mhsa" for ops in arch["ops"].values() for op in ops)


def test_eval_mode_uses_the_argmax_path(supernet: RTSegSupernet) -> None:
    supernet.set_mode("search")
    supernet.eval()
    key, blk = next(iter(supernet.mixed().items()))
    x = torch.randn(1, 16, 8, 12)
    with torch.no_grad():
        x = torch.randn(1, blk.lir.expand.conv.in_channels, 8, 12)
        masks = supernet.masks()
        for i, op in enumerate(OPS):
            blk.logits.copy_(torch.eye(3)[i])
            want = x if op == "skip" else getattr(blk, op)(x, masks)
            assert torch.equal(blk(x, masks), want), (key, op)


def test_latency_terms_are_differentiable_in_gates_and_logits(supernet: RTSegSupernet) -> None:
    supernet.set_mode("search")
    with torch.no_grad():
        supernet.gates["seg5"][:4] = 0.2  # 4 of 16 pruned
    terms = supernet.latency_terms((512, 1024))
    ops = [t.spec.op for t in terms]
    assert ops.count("lir") == ops.count("mhsa") == len(supernet.mixed())
    lir5 = [t for t in terms if t.spec.op == "lir" and t.spec.h == 16][0]
    assert lir5.spec.cin == 16 and lir5.spec.w == 32  # full width, H/32 of 512x1024
    assert lir5.soft["cin"].item() == 12.0  # expected kept count
    assert lir5.soft["expansion"].item() == pytest.approx(32 / 12)  # hidden / cin, both soft
    assert 0.0 < lir5.prob.item() < 1.0
    # a stand-in for the latency predictor: any differentiable function of the soft fields
    cost = sum(t.prob * t.spec.h * t.spec.w * torch.stack(list(t.soft.values())).prod()
               for t in terms)
    cost.backward()
    for g, c in supernet.gates.items():
        assert c.grad is not None and c.grad.abs().sum() > 0, g
    for blk in supernet.mixed().values():
        assert blk.logits.grad is not None and blk.logits.grad.abs().sum() > 0


def test_latency_penalty_alone_prunes_channels_and_skips_blocks(supernet: RTSegSupernet) -> None:
    """A few arch-only steps on a latency-like cost: gates close and skip wins (eq. 8-9)."""
    supernet.set_mode("search")
    before = supernet.derive()
    opt = torch.optim.SGD(supernet.arch_parameters(), lr=0.05)
    for _ in range(30):
        terms = supernet.latency_terms((64, 128))
        cost = sum(t.prob * t.soft["cout"] for t in terms if "cout" in t.soft)
        opt.zero_grad()
        cost.backward()
        opt.step()
    after = supernet.derive()
    kept = {g: len(v) for g, v in after["channels"].items()}
    assert sum(kept.values()) < sum(len(v) for v in before["channels"].values())
    assert all(k >= 1 for k in kept.values())
    assert "skip" in sum(after["ops"].values(), [])


def test_ste_min_keep_keeps_the_largest_weights_with_identity_gradient() -> None:
    c = torch.tensor([0.1, 0.4, -0.2, 0.3, 0.45], requires_grad=True)
    b = ste_binarize(c, min_keep=2)
    assert b.tolist() == [0.0, 1.0, 0.0, 0.0, 1.0]
    b.backward(torch.arange(5.0))
    assert torch.equal(c.grad, torch.arange(5.0))
    assert ste_binarize(torch.tensor([0.9, 0.8, 0.1]), min_keep=1).tolist() == [1.0, 1.0, 0.0]


def test_closed_gates_are_floored_at_the_min_keep_fraction(supernet: RTSegSupernet) -> None:
    """A latency loss may push every gate of a group below T_h; the supernet still keeps the
    fraction `sample()` and the attainable range assume, and derive/masks/latency agree."""
    import math

    from search_spaces.rtseg.archs import MIN_KEEP

    supernet.set_mode("search")
    with torch.no_grad():
        for c in supernet.gates.values():
            c.copy_(torch.linspace(0.4, 0.0, c.numel()))  # all below the threshold
    arch = supernet.derive()
    masks = supernet.masks()
    kept = {t.spec.op_key: t for t in supernet.latency_terms(X_HW)}
    assert kept  # latency terms still build
    for g, n in supernet.group_sizes.items():
        k = max(1, math.ceil(MIN_KEEP * n))
        assert arch["channels"][g] == list(range(k))  # the k largest weights: the first k
        assert int(masks[g].sum()) == k
    # set_arch of a hand-written arch below the floor is honoured, not floored
    g0 = next(g for g, n in supernet.group_sizes.items() if n >= 8)
    arch["channels"][g0] = [3]
    supernet.set_arch(arch)
    assert supernet.derive()["channels"][g0] == [3]
    assert int(supernet.masks()[g0].sum()) == 1
