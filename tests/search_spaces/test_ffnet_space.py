"""The FFNet space: arch validation, sampling, building, latency blocks and ONNX export."""

from __future__ import annotations

import copy
import random
import re

import pytest
import torch
import torch.nn as nn

import search_spaces
from latency.blocks import registered_ops
from nas.arch import load_arch, save_arch
from nas.errors import UserError
from nas.export.onnx import export_onnx, max_abs_diff_vs_torch
from nas.models import create_model
from nas.models.counting import count_macs

CLASSES = 5
ODD_SIZES = [(67, 93), (101, 75)]


@pytest.fixture
def space() -> search_spaces.Space:
    return search_spaces.get("ffnet")


def _small(space: search_spaces.Space, seed: int, **cfg: object) -> dict:
    return space.sample(random.Random(seed), **{**space.small_cfg(), **cfg})


def _ceil_div(n: int, d: int) -> int:
    return -(-n // d)


def _expected_out_hw(arch: dict, hw: tuple[int, int]) -> tuple[int, int]:
    """Every stride-2 layer halves rounding up: stem twice, plus a stride-2 first stage."""
    halvings = 2 + (1 if len(arch["depths"]) == 4 and arch["first_stride"] == 2 else 0)
    h, w = hw
    for _ in range(halvings):
        h, w = _ceil_div(h, 2), _ceil_div(w, 2)
    return h, w


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"depths": [2, 0, 2, 2]}, "depths[1]"),
        ({"depths": [2, 2, 2, 33]}, "depths[3]"),
        ({"depths": [2, True, 2, 2]}, "depths[1]"),
        ({"depths": [2, 2, 2, 2, 2], "widths": [8] * 5}, "depths"),
        ({"widths": [12, 128, 256, 512]}, "widths[0]"),
        ({"widths": [64, 128, 256, 1024]}, "widths[3]"),
        ({"widths": [64, 128, 256]}, "widths"),
        ({"up_base": [64, 128, 256]}, "up_base"),
        ({"up_out": [128, 16, 16, 4]}, "up_out[3]"),
        ({"stem": "D"}, "stem"),
        ({"stem_width": 60}, "stem_width"),
        ({"block": "mbconv"}, "block"),
        ({"first_stride": 4}, "first_stride"),
        ({"first_stride": True}, "first_stride"),
        ({"seg_kernel": 3.0}, "seg_kernel"),
        ({"seg_kernel": 5}, "seg_kernel"),
        ({"seg_width": "wide"}, "seg_width"),
        ({"upsample": "bicubic"}, "upsample"),
        ({"depth": [2, 2, 2, 2]}, "depth"),
        ({"space": "rtseg"}, "space"),
    ],
)
def test_validate_names_the_bad_field(space: search_spaces.Space, change: dict,
                                      field: str) -> None:
    arch = {**space.presets()["ffnet18_dAAC"], **change}
    with pytest.raises(UserError, match=re.escape(f"arch field '{field}'")):
        space.validate(arch)


def test_validate_rejects_missing_field_and_3_stage_stride_1(space: search_spaces.Space) -> None:
    arch = space.presets()["ffnet46NS_CCC_mobile"]
    with pytest.raises(UserError, match="'first_stride'"):
        space.validate({**arch, "first_stride": 1})
    missing = {k: v for k, v in arch.items() if k != "up_out"}
    with pytest.raises(UserError, match="'up_out': missing"):
        space.validate(missing)


def test_arch_file_round_trip_builds(space: search_spaces.Space, tmp_path) -> None:
    arch = _small(space, 4)
    path = save_arch(arch, tmp_path / "arch.json")
    assert load_arch(path) == arch
    model = create_model(str(path), num_classes=CLASSES).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 48)).shape[1] == CLASSES


# ------------------------------------------------------------------------------ sampling
def test_sample_is_seeded_and_stays_in_space(space: search_spaces.Space) -> None:
    assert _small(space, 7) == _small(space, 7)
    archs = [space.sample(random.Random(s)) for s in range(40)]
    assert {len(a["depths"]) for a in archs} == {3, 4}
    assert {a["block"] for a in archs} == {"basic", "bottleneck"}
    assert {a["stem"] for a in archs} == {"A", "B", "C"}
    assert {a["upsample"] for a in archs} == {"bilinear", "nearest"}
    for a in archs:
        assert space.validate(copy.deepcopy(a)) == a
        assert a["widths"] == sorted(a["widths"])


def test_sample_width_mult_scales_every_width(space: search_spaces.Space) -> None:
    for seed in range(10):
        arch = space.sample(random.Random(seed), width_mult=0.25, max_depth=3)
        widths = [arch["stem_width"], *arch["widths"], *arch["up_base"], *arch["up_out"],
                  arch["seg_width"]]
        assert max(widths) <= 128 and all(w % 8 == 0 for w in widths)
        assert max(arch["depths"]) <= 3


def test_sample_options_fix_stages_and_block(space: search_spaces.Space) -> None:
    arch = _small(space, 0, num_stages=3, block="bottleneck")
    assert len(arch["depths"]) == 3 and arch["block"] == "bottleneck"


@pytest.mark.parametrize(
    ("cfg", "field"),
    [({"width_mult": 0}, "width_mult"), ({"width_mult": 1.5}, "width_mult"),
     ({"max_depth": 0}, "max_depth"), ({"num_stages": 5}, "num_stages"),
     ({"block": "x"}, "block"), ({"widthmult": 0.5}, "widthmult")],
)
def test_sample_rejects_bad_options(space: search_spaces.Space, cfg: dict, field: str) -> None:
    with pytest.raises(UserError, match=f"'{field}'"):
        space.sample(random.Random(0), **cfg)


def test_no_supernet(space: search_spaces.Space) -> None:
    with pytest.raises(UserError, match="optuna"):
        space.supernet(CLASSES)


# ------------------------------------------------------------------------ build, forward
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("hw", ODD_SIZES)
def test_sampled_net_forwards_odd_sizes(space: search_spaces.Space, seed: int,
                                        hw: tuple[int, int]) -> None:
    arch = _small(space, seed, num_stages=3 + seed % 2)
    torch.manual_seed(seed)
    model = space.build(arch, CLASSES).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, *hw))
    assert tuple(out.shape) == (2, CLASSES, *_expected_out_hw(arch, hw))
    assert torch.isfinite(out).all()


def test_build_is_physically_small(space: search_spaces.Space) -> None:
    """A narrow arch builds a narrow network: no masks, every conv at its arch width."""
    arch = _small(space, 1)
    model = space.build(arch, CLASSES)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert max(m.out_channels for m in convs) <= 4 * max(arch["widths"])
    assert sum(p.numel() for p in model.parameters()) < 2_000_000


# ---------------------------------------------------------------------------- blocks
@pytest.mark.parametrize("seed", range(6))
def test_block_macs_sum_to_network_macs(space: search_spaces.Space, seed: int) -> None:
    arch = _small(space, seed, num_stages=3 + seed % 2,
                  block="bottleneck" if seed % 3 == 0 else "basic")
    hw = ODD_SIZES[seed % 2]
    net_macs, _ = count_macs(space.build(arch, CLASSES), (1, 3, *hw))
    blocks = space.blocks(arch, hw, num_classes=CLASSES)
    assert sum(b.macs() for b in blocks) == net_macs
    ops = registered_ops()
    assert all(b.op in ops for b in blocks)


def test_blocks_build_alone_and_chain_shapes(space: search_spaces.Space) -> None:
    arch = _small(space, 5, num_stages=4)
    blocks = space.blocks(arch, ODD_SIZES[0], num_classes=CLASSES)
    ops = [b.op for b in blocks]
    assert ops.count("basic") + ops.count("bottleneck") == sum(arch["depths"])
    assert ops.count("ffnet_upadd") == 3 and ops.count("ffnet_upcat") == 1
    assert blocks[-1].cout == CLASSES
    for spec in blocks:
        with torch.no_grad():
            out = spec.to_module()(*spec.example_inputs())
        assert out.shape[1] == spec.cout, spec


# ----------------------------------------------------------------------------- ONNX
def _randomise_bn(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_onnx_export_matches_pytorch(space: search_spaces.Space, mode: str) -> None:
    arch = {**_small(space, 2, num_stages=4), "upsample": mode}
    torch.manual_seed(0)
    model = space.build(arch, CLASSES).eval()
    _randomise_bn(model)
    x = torch.randn(1, 3, *ODD_SIZES[1])
    assert max_abs_diff_vs_torch(model, [x], export_onnx(model, [x])) <= 1e-4
