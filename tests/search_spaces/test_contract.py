"""One contract suite for every registered search space (STYLE.md, the smp BaseModelTester habit).

Each space is checked the same way at its CPU-sized config (`space.small_cfg()`):
- a sampled arch validates, survives a JSON round trip, and `build` forwards odd input sizes;
- `blocks()` covers the whole network: the block MACs add up to the network's MACs;
- the built network exports to ONNX and ONNX Runtime matches PyTorch (max abs diff <= 1e-4);
- spaces with a supernet: under `set_arch(arch)` the supernet equals `build(arch)` + `inherit`
  in eval mode (max abs diff <= 1e-5);
- archs of another space, or not objects at all, are rejected with a UserError.
"""

from __future__ import annotations

import copy
import json
import random

import pytest
import torch
import torch.nn as nn

import search_spaces
from nas.errors import UserError
from nas.export.onnx import export_onnx, max_abs_diff_vs_torch
from nas.models.counting import count_macs

NUM_CLASSES = 5
SIZES = [(64, 128), (96, 96)]


def _spaces() -> list[str]:
    return search_spaces.names()


@pytest.fixture(params=_spaces())
def space(request: pytest.FixtureRequest) -> search_spaces.Space:
    return search_spaces.get(request.param)


def _arch(space: search_spaces.Space, seed: int = 0) -> dict:
    return space.sample(random.Random(seed), **space.small_cfg())


def _randomise_bn(model: nn.Module, seed: int) -> None:
    """Non-trivial BN statistics, so that copying the wrong channels shows up."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def _logits(out: object) -> torch.Tensor:
    return out["out"] if isinstance(out, dict) else out  # type: ignore[index,return-value]


def test_sampled_arch_validates_and_round_trips(space: search_spaces.Space) -> None:
    for seed in range(3):
        arch = _arch(space, seed)
        assert arch["space"] == space.name
        again = json.loads(json.dumps(arch))
        assert space.validate(again) == arch


@pytest.mark.parametrize("hw", SIZES)
def test_build_forwards_input_size(space: search_spaces.Space, hw: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = space.build(_arch(space, 1), NUM_CLASSES).eval()
    with torch.no_grad():
        out = _logits(model(torch.randn(2, 3, *hw)))
    assert out.shape[:2] == (2, NUM_CLASSES)
    assert torch.isfinite(out).all()


def test_blocks_cover_the_network(space: search_spaces.Space) -> None:
    hw = SIZES[0]
    for seed in range(2):
        arch = _arch(space, seed)
        model = space.build(arch, NUM_CLASSES)
        net_macs, _ = count_macs(model, (1, 3, *hw))
        blocks = space.blocks(arch, hw, num_classes=NUM_CLASSES)
        assert blocks, "blocks() returned nothing"
        assert sum(b.macs() for b in blocks) == net_macs


def test_blocks_build_alone(space: search_spaces.Space) -> None:
    for spec in space.blocks(_arch(space, 2), SIZES[0], num_classes=NUM_CLASSES):
        module = spec.to_module()
        with torch.no_grad():
            out = module(*spec.example_inputs())
        assert torch.isfinite(_logits(out)).all(), spec


def test_onnx_export_matches_pytorch(space: search_spaces.Space) -> None:
    torch.manual_seed(0)
    model = space.build(_arch(space, 3), NUM_CLASSES).eval()
    _randomise_bn(model, 3)
    x = torch.randn(1, 3, *SIZES[0])
    onnx_bytes = export_onnx(model, [x])
    assert max_abs_diff_vs_torch(model, [x], onnx_bytes) <= 1e-4


def test_inherit_equals_supernet(space: search_spaces.Space) -> None:
    cfg = space.small_cfg()
    try:
        supernet = space.supernet(NUM_CLASSES, **cfg)
    except UserError:
        pytest.skip(f"space '{space.name}' has no supernet")
    torch.manual_seed(0)
    _randomise_bn(supernet, 0)
    supernet.eval()
    x = torch.randn(1, 3, *SIZES[0])
    for seed in range(3):
        arch = _arch(space, seed)
        supernet.set_arch(copy.deepcopy(arch))
        subnet = space.build(arch, NUM_CLASSES)
        space.inherit(subnet, supernet, arch)
        subnet.eval()
        with torch.no_grad():
            diff = (_logits(supernet(x)) - _logits(subnet(x))).abs().max().item()
        assert diff <= 1e-5, f"seed {seed}: max abs diff {diff}"
        assert space.validate(supernet.derive()) == supernet.derive()


def test_foreign_or_malformed_arch_rejected(space: search_spaces.Space) -> None:
    arch = _arch(space, 0)
    with pytest.raises(UserError, match="space"):
        space.validate({**arch, "space": "not-" + space.name})
    with pytest.raises(UserError):
        space.validate([arch])  # type: ignore[arg-type]
