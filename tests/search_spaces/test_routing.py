"""The dynamic routing space: reference counts, gates, skipping, common network, blocks, errors."""

from __future__ import annotations

import json
import random

import pytest
import torch

import search_spaces
from nas.errors import UserError
from nas.export.onnx import export_onnx, max_abs_diff_vs_torch
from nas.models import get_entry
from nas.models.counting import count_macs, count_params
from search_spaces.routing import costs
from search_spaces.routing.blocks import gated_specs
from search_spaces.routing.budget import (
    PRESETS,
    BudgetConfig,
    budget_loss,
    budget_weight,
    expected_cost,
    flops_costs,
    max_cost,
)
from search_spaces.routing.common import common_network
from search_spaces.routing.dynamic import run_image
from search_spaces.routing.supernet import RoutingSupernet
from search_spaces.routing.topology import cell_key, scale_sizes, stem_out_hw

SPACE = search_spaces.get("routing")
SMALL = SPACE.small_cfg()
HW = (64, 128)


def _net(**cfg: object) -> RoutingSupernet:
    torch.manual_seed(0)
    return SPACE.supernet(5, **{**SMALL, **cfg}).eval()


def _fix_gates(net: RoutingSupernet, closed: set[tuple[int, int, str]]) -> None:
    """Input-independent gates: the routes in `closed` get 0, every other route 1."""
    with torch.no_grad():
        for i, s in net.topo.cells():
            cell = net.cells[cell_key(i, s)]
            cell.gate.logits.weight.zero_()
            for r_idx, r in enumerate(cell.routes):
                cell.gate.logits.bias[r_idx] = -10.0 if (i, s, r) in closed else 10.0


def _calibrate_bn(net: torch.nn.Module, x: torch.Tensor) -> None:
    """BN statistics of real activations (as after training), so that untrained activations
    stay O(1) through the layers and absolute numeric checks mean something."""
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    net.train()
    with torch.no_grad():
        net(x)
    net.eval()


# ----------------------------------------------------------------------- reference counts
@pytest.mark.parametrize("small_gate, gmacs", [(False, 117_908_855_072), (True, 102_306_044_192)])
def test_layer16_counts_match_the_official_model(small_gate: bool, gmacs: int) -> None:
    with torch.device("meta"):
        net = SPACE.supernet(19, preset="layer16", small_gate=small_gate)
    gate_params = sum(p.numel() for n, p in net.named_parameters() if ".gate." in n)
    assert count_params(net) == 17_784_968
    assert gate_params == 2_523_125
    macs, shape = count_macs(net, (1, 3, 1024, 2048))
    assert macs == gmacs
    assert shape == [1, 19, 1024, 2048]


def test_layer33_has_more_layers_same_widths() -> None:
    with torch.device("meta"):
        net = SPACE.supernet(19, preset="layer33")
    assert net.topo.num_layers == 33 and net.topo.strides == [4, 8, 16, 32]
    assert [net.topo.channels(s) for s in range(4)] == [64, 128, 256, 512]
    assert len(net.cells) == 1 + 2 + 3 + 4 * 31


def test_presets_registered_as_models() -> None:
    for name in ("routing-layer16", "routing-layer33", "routing-layer16-small-gate",
                 "routing-layer33-small-gate"):
        entry = get_entry(name)
        assert entry.family == "routing" and entry.input_hw == (1024, 2048)


def test_cost_table_matches_block_macs() -> None:
    topo = _net().topo
    sizes = scale_sizes(stem_out_hw(HW), topo.num_scales)
    table = costs.cost_table(topo, sizes)
    for key, spec in gated_specs(topo, HW):
        assert table[key] == spec.macs(), key


# -------------------------------------------------------------------------------- gates
def test_gates_start_open_and_lie_in_unit_interval() -> None:
    net = _net()
    for cell in net.cells.values():
        assert torch.all(cell.gate.logits.bias == 1.5)
    with torch.no_grad():
        net(torch.randn(2, 3, *HW))  # batch of 2: soft path
    gates = [net.cells[cell_key(i, s)].gate(torch.randn(3, net.topo.channels(s), 8, 8))
             for i, s in net.topo.cells()]
    values = torch.cat([g.flatten() for g in gates])
    assert values.min() >= 0 and values.max() < 1
    assert values.mean() > 0.5  # bias 1.5: tanh(1.5) = 0.905 before the conv's noise


def test_train_forward_returns_costs_with_gradient_to_gates() -> None:
    net = _net().train()
    out = net(torch.randn(2, 3, *HW))
    assert set(out) >= {"out", "aux", "expected_cost", "max_cost"}
    assert out["out"].shape == (2, 5, *HW) and out["aux"] == []
    assert 0 < out["expected_cost"].item() <= out["max_cost"]
    out["expected_cost"].backward()
    grads = [c.gate.logits.bias.grad for c in net.cells.values()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


# ------------------------------------------------------------------- dynamic inference
def test_dynamic_inference_equals_soft_batch() -> None:
    net = _net()
    x = torch.randn(3, 3, *HW)
    with torch.no_grad():
        batch = net(x)
        singles = torch.cat([net(x[i : i + 1]) for i in range(3)])
    assert (batch - singles).abs().max() <= 1e-4 * max(1.0, batch.abs().max().item())


def test_closed_cell_and_zero_route_are_not_computed() -> None:
    net = _net()
    x = torch.randn(1, 3, *HW)
    _fix_gates(net, set())
    _, open_rec = run_image(net, x)
    # close cell (2, 1) entirely and the up route of cell (3, 1)
    closed_cell, closed_route = (2, 1), (3, 1, "up")
    cell = net.cells[cell_key(*closed_cell)]
    _fix_gates(net, {(*closed_cell, r) for r in cell.routes} | {closed_route})
    calls: list[str] = []
    hooks = [
        cell.op.register_forward_hook(lambda *a: calls.append("cell")),
        net.cells[cell_key(3, 1)].up.register_forward_hook(lambda *a: calls.append("up")),
    ]
    logits, rec = run_image(net, x)
    for h in hooks:
        h.remove()
    assert calls == []
    assert closed_cell in rec.closed and closed_cell not in rec.computed
    assert closed_route not in rec.routes
    sizes = scale_sizes(stem_out_hw(HW), net.topo.num_scales)
    table = costs.cost_table(net.topo, sizes)
    saved = table[(*closed_cell, "cell")] + sum(table[(*closed_cell, r)] for r in cell.routes)
    saved += table[closed_route]
    assert open_rec.macs - rec.macs == saved
    with torch.no_grad():
        soft = net._soft_forward(x)[0]
    assert (soft - logits).abs().max() <= 1e-5


def test_cell_nothing_reaches_runs_nothing_not_even_its_gate() -> None:
    net = _net()
    _fix_gates(net, {(0, 0, "down")})  # the initial cell no longer feeds scale 1/8 of layer 1
    calls: list[int] = []
    hook = net.cells[cell_key(1, 1)].gate.register_forward_hook(lambda *a: calls.append(1))
    _, rec = run_image(net, torch.randn(1, 3, *HW))
    hook.remove()
    assert calls == [] and (1, 1) not in rec.gates


# -------------------------------------------------------------- common network, build, inherit
def test_common_network_build_inherit_and_onnx() -> None:
    net = _net()
    closed = {(0, 0, "down"), (2, 0, "keep"), (3, 2, "up"), (3, 1, "down")}
    _fix_gates(net, closed)
    images = [torch.randn(3, *HW) for _ in range(3)]
    _calibrate_bn(net, torch.stack(images))
    # a loader-like mix: an (images, masks) batch, then a single image
    stats = common_network(net, [(torch.stack(images[:2]), None), images[2]])
    arch = stats.arch
    assert SPACE.validate(json.loads(json.dumps(arch))) == arch
    assert stats.images == 3 and all(g > 0 for g in stats.gmacs)
    for i, layer in enumerate(arch["routes"]):
        for s, kept in enumerate(layer):
            assert not any((i, s, r) in closed for r in kept)
    subnet = SPACE.build(arch, 5)
    assert not any("gate" in n for n, _ in subnet.named_parameters())
    SPACE.inherit(subnet, net, arch)
    subnet.eval()
    x = images[0].unsqueeze(0)
    with torch.no_grad():
        dyn = net(x)  # gates are exactly 0 or tanh(10) == 1.0 in float32
        static = subnet(x)
        net.set_arch(arch)
        fixed = net(x)
    assert (dyn - static).abs().max() <= 1e-5
    assert (fixed - static).abs().max() <= 1e-6
    assert net.derive() == arch
    # batched (soft) evaluation counts route usage the same way
    net.set_arch(None)
    net.reset_usage()
    with torch.no_grad():
        net(torch.stack(images))
    assert net.derive() == arch
    with pytest.raises(UserError, match="num_layers"):
        net.set_arch(SPACE.sample(random.Random(0), num_layers=3, width_mult=0.125))
    assert max_abs_diff_vs_torch(subnet, [x], export_onnx(subnet, [x])) <= 1e-4


def test_derive_keeps_routes_used_in_95_percent_of_images() -> None:
    net = _net()
    net.images_seen = 100
    topo = net.topo
    net.usage = {(i, s, r): 100.0 for i, s in topo.cells() for r in topo.allowed_routes(i, s)}
    net.usage[(1, 0, "down")] = 95.0
    net.usage[(1, 1, "keep")] = 94.0
    routes = net.derive()["routes"]
    assert "down" in routes[1][0] and "keep" not in routes[1][1]


# -------------------------------------------------------------------------------- blocks
@pytest.mark.parametrize("hw", [HW, (96, 96), (75, 131)])
def test_block_macs_sum_to_network_macs(hw: tuple[int, int]) -> None:
    archs = [SPACE.sample(random.Random(seed), **SMALL) for seed in range(3)]
    archs.append(_net().derive())  # every route kept
    for arch in archs:
        blocks = SPACE.blocks(arch, hw, num_classes=5)
        assert {b.op for b in blocks} <= {"rt_stem", "rt_cell", "rt_route_up", "rt_route_down",
                                          "rt_decoder"}
        net_macs, shape = count_macs(SPACE.build(arch, 5), (1, 3, *hw))
        assert sum(b.macs() for b in blocks) == net_macs
        assert shape == [1, 5, *hw]


def test_latency_terms_carry_gate_probabilities() -> None:
    net = _net().train()
    out = net(torch.randn(2, 3, *HW))
    terms = net.latency_terms(HW)
    assert {t.spec.op for t in terms} == {"rt_cell", "rt_route_up", "rt_route_down"}
    assert all(isinstance(t.prob, torch.Tensor) and t.prob.requires_grad for t in terms)
    # at the training size, the FLOPs budget of the terms is the forward's expected cost
    assert expected_cost(terms, flops_costs).item() == pytest.approx(
        out["expected_cost"].item(), rel=1e-5)
    assert max_cost(terms) == out["max_cost"]


# ---------------------------------------------------------------------------- validation
def _full() -> dict:
    return _net().derive()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"num_layers": 1}, "num_layers"),
        ({"strides": [4, 16]}, "strides"),
        ({"strides": [4, 8, 16, 32, 64]}, "strides"),
        ({"base_channels": 7}, "base_channels"),
        ({"budget": {"lambda": 0.5, "mu": 0.0}}, "budget.mu"),
        ({"budget": {"lambda": 0.5, "mu": 1.5}}, "budget.mu"),
        ({"routes": [[["keep"]]]}, "routes"),
    ],
)
def test_validate_rejects_bad_fields(change: dict, field: str) -> None:
    with pytest.raises(UserError, match=f"'{field}'"):
        SPACE.validate({**_full(), **change})


@pytest.mark.parametrize(
    "layer, scale, route",
    [(1, 0, "up"), (2, 2, "fly"), (4, 1, "down"), (4, 0, "up"), (3, 3, "down")],
)
def test_validate_rejects_route_to_missing_scale(layer: int, scale: int, route: str) -> None:
    arch = _full()
    arch["routes"][layer][scale].append(route)
    with pytest.raises(UserError, match=rf"routes\[{layer}\]\[{scale}\]"):
        SPACE.validate(arch)


def test_validate_normalises_order_and_unreached_cells() -> None:
    arch = _full()
    arch["routes"][0][0] = ["keep"]  # nothing reaches scale 1/8 of layer 1
    arch["routes"][2][1] = ["down", "keep"]
    out = SPACE.validate(arch)
    assert out["routes"][1][1] == []
    assert out["routes"][2][1] == ["keep", "down"]
    assert SPACE.validate(out) == out


def test_budget_schedule_and_loss() -> None:
    cfg = PRESETS["dynamic-a"]
    assert (cfg.lam, cfg.mu) == (0.8, 0.1) and PRESETS["dynamic-c"].mu == 0.2
    assert budget_weight(0.39, cfg) == 0.0 and budget_weight(0.40, cfg) == 0.0
    assert budget_weight(0.41, cfg) == pytest.approx(0.5)
    assert budget_weight(0.5, cfg) == 1.0
    loss = budget_loss(torch.tensor(30.0), 100.0, cfg, progress=0.9)
    assert loss.item() == pytest.approx(0.8 * (0.3 - 0.1) ** 2)
    with pytest.raises(UserError, match="mu"):
        BudgetConfig(lam=0.5, mu=0.0)


def test_latency_budget_gradient_reaches_gates() -> None:
    net = _net().train()
    net(torch.randn(2, 3, *HW))
    terms = net.latency_terms((512, 1024))

    # a stand-in device cost: a latency per block that grows with its work (ms)
    def latency(specs: list) -> torch.Tensor:
        return torch.tensor([1e-3 * s.cin * s.h * s.w / s.stride**2 for s in specs])

    exp, top = expected_cost(terms, latency), max_cost(terms, latency)
    assert 0 < exp.item() < top
    budget_loss(exp, top, PRESETS["dynamic-b"], progress=1.0).backward()
    assert any(c.gate.logits.bias.grad is not None for c in net.cells.values())


def test_sample_is_valid_and_varies() -> None:
    archs = [SPACE.sample(random.Random(seed), **SMALL) for seed in range(5)]
    for arch in archs:
        assert SPACE.validate(json.loads(json.dumps(arch))) == arch
    assert len({json.dumps(a["routes"]) for a in archs}) > 1
    with pytest.raises(UserError, match="preset"):
        SPACE.sample(random.Random(0), preset="layer99")


@pytest.mark.slow
def test_skipping_saves_measured_time() -> None:
    """Layer16 at 256x512 with ~half the routes closed: dynamic inference beats computing every
    cell (soft path) in wall time, not only in counted MACs."""
    import time

    from search_spaces.routing.bench import fix_gates

    torch.manual_seed(0)
    net = SPACE.supernet(19, preset="layer16", small_gate=True).eval()
    rng = random.Random(0)
    closed = {(i, s, r) for i, s in net.topo.cells() for r in net.topo.allowed_routes(i, s)
              if rng.random() < 0.5}
    fix_gates(net, closed)
    x = torch.randn(1, 3, 256, 512)

    def best_ms(dynamic: bool) -> float:
        net.dynamic_inference = dynamic
        times = []
        with torch.no_grad():
            for _ in range(4):
                t0 = time.perf_counter()
                net(x)
                times.append(time.perf_counter() - t0)
        return min(times[1:])

    soft, dynamic = best_ms(False), best_ms(True)
    assert dynamic < 0.9 * soft, (dynamic, soft)


def test_fewer_scales_and_width_options() -> None:
    net = SPACE.supernet(5, num_layers=2, width_mult=0.25, strides=[4, 8, 16]).eval()
    assert net.topo.base_channels == 16 and net.topo.num_cells(2) == 3
    x = torch.randn(1, 3, 48, 80)
    with torch.no_grad():
        assert net(x).shape == (1, 5, 48, 80)
    arch = net.derive()
    assert arch["strides"] == [4, 8, 16]
    macs, _ = count_macs(SPACE.build(arch, 5), (1, 3, 48, 80))
    assert sum(b.macs() for b in SPACE.blocks(arch, (48, 80), num_classes=5)) == macs
    with pytest.raises(UserError, match="unknown option"):
        SPACE.supernet(5, depth=3)
    with pytest.raises(UserError, match="num_layers"):
        SPACE.supernet(5, num_layers=1)  # layer 1 reaches 1/8 at most; 1/32 needs 3 layers
