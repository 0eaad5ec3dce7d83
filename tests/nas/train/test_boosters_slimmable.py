"""SlimSeg slimmable training: slim convs, switchable BN, stepwise KD and per-width export."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn

import search_spaces
from nas.errors import UserError
from nas.models.counting import count_params
from nas.models.registry import create_model
from nas.train.boosters import BoosterConfig, BoosterLoss, boost, extract_width, set_width
from nas.train.boosters.export import export_widths, load_slim, uniform_arch
from nas.train.boosters.slimmable import (
    SwitchableBatchNorm2d,
    check_widths,
    make_slimmable,
    slim_count,
)
from nas.train.trainer import LossContext
from search_spaces.rtseg import full_arch

WIDTHS = (0.25, 0.5, 0.75, 1.0)


def tiny(name: str) -> nn.Module:
    torch.manual_seed(0)
    kwargs = {"bisenetv2": {"width_mult": 0.125, "head_width": 64},
              "stdc1-seg": {"width_mult": 0.125},
              "rtseg-supernet": {"preset": "tiny"}}[name]
    return create_model(name, num_classes=4, **kwargs)


def test_width_one_computes_what_the_plain_model_computes():
    net = tiny("bisenetv2").eval()
    x = torch.randn(1, 3, 64, 64)
    want = net(x)
    slim = make_slimmable(copy.deepcopy(net), WIDTHS).eval()
    assert torch.allclose(slim(x), want, atol=1e-5)


@pytest.mark.parametrize("name", ["bisenetv2", "stdc1-seg", "rtseg-supernet"])
def test_each_extracted_width_is_a_smaller_plain_network_with_the_same_output(name):
    slim = make_slimmable(tiny(name), WIDTHS).eval()
    x = torch.randn(1, 3, 64, 64)
    sizes = []
    for w in WIDTHS:
        set_width(slim, w)
        plain = extract_width(slim, w)
        assert not any(isinstance(m, SwitchableBatchNorm2d) for m in plain.modules())
        assert torch.allclose(plain(x), slim(x), atol=1e-5)
        sizes.append(count_params(plain))
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1] / 4


def test_switchable_bn_keeps_separate_statistics_per_width():
    slim = make_slimmable(tiny("bisenetv2"), WIDTHS).train()
    bn = next(m for m in slim.modules() if isinstance(m, SwitchableBatchNorm2d))
    before = [b.running_mean.clone() for b in bn.bns]
    set_width(slim, 0.25)
    slim(torch.randn(2, 3, 32, 32))
    c = slim_count(bn.bns[0].num_features, 0.25)
    assert not torch.equal(bn.bns[0].running_mean[:c], before[0][:c])
    assert torch.equal(bn.bns[0].running_mean[c:], before[0][c:])
    for b, old in zip(bn.bns[1:], before[1:], strict=True):
        assert torch.equal(b.running_mean, old)


def test_bad_widths_and_unsliceable_layers_are_user_errors():
    for bad in ([0.5, 0.25, 1.0], [0.5], [0.0, 1.0], [0.5, 0.5, 1.0]):
        with pytest.raises(UserError, match="increasing widths"):
            check_widths(bad)
    slim = make_slimmable(tiny("stdc1-seg"), WIDTHS)
    with pytest.raises(UserError, match="not one of the trained widths"):
        set_width(slim, 0.3)
    with_linear = nn.Sequential(nn.Conv2d(3, 8, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                nn.Linear(8, 2))
    with pytest.raises(UserError, match="Linear"):
        make_slimmable(with_linear, WIDTHS)


def test_stepwise_distillation_trains_every_width():
    cfg = BoosterConfig(slimmable=True, boundary=True, detail=True)
    net = boost(tiny("bisenetv2"), cfg).train()
    hook = BoosterLoss(cfg)
    x, labels = torch.randn(2, 3, 32, 32), torch.randint(0, 4, (2, 32, 32))
    out = net(x)
    terms = hook(LossContext(net, x, labels, out["out"], out["aux"], 0))
    assert set(terms) == {"detail", "slim_kd", "boundary", "guided"}
    assert float(terms["slim_kd"].detach()) > 0
    sum(terms.values()).backward()
    bn = next(m for m in net.modules() if isinstance(m, SwitchableBatchNorm2d))
    for b in bn.bns[:-1]:  # the smaller widths' BNs got gradient from the KD terms
        assert b.weight.grad is not None and b.weight.grad.abs().sum() > 0
    assert all(m.index == len(WIDTHS) - 1 for m in net.modules()
               if isinstance(m, SwitchableBatchNorm2d))  # back at full width


def test_rtseg_widths_export_as_uniformly_slimmed_archs(tmp_path):
    cfg = BoosterConfig(slimmable=True, detail=True)
    net = boost(tiny("rtseg-supernet"), cfg).eval()
    x = torch.randn(1, 3, 64, 64)
    folders = export_widths(net, tmp_path, ref="rtseg-supernet", model_args={"preset": "tiny"},
                            num_classes=4)
    space = search_spaces.get("rtseg")
    base = space.validate(full_arch(preset="tiny"))
    for w, where in folders.items():
        arch = uniform_arch(base, w)
        built = space.build(arch, 4)
        built.load_state_dict(torch.load(where / "weights.pt", weights_only=True))  # strict
        set_width(net, w)
        assert torch.allclose(built.eval()(x), net(x), atol=1e-5)
        assert torch.allclose(load_slim(where)(x), net(x), atol=1e-5)
        kept = {g: len(v) for g, v in space.validate(arch)["channels"].items()}
        assert all(kept[g] == slim_count(len(v), w) for g, v in base["channels"].items())


def test_fixed_model_widths_round_trip_through_slim_json(tmp_path):
    net = boost(tiny("stdc1-seg"), BoosterConfig(slimmable=True)).eval()
    folders = export_widths(net, tmp_path, ref="stdc1-seg", model_args={"width_mult": 0.125},
                            num_classes=4)
    x = torch.randn(1, 3, 64, 64)
    set_width(net, 0.5)
    assert not (folders[0.5] / "arch.json").exists()
    assert torch.allclose(load_slim(folders[0.5])(x), net(x), atol=1e-5)


def test_an_exported_width_runs_in_onnx_runtime_like_in_pytorch(tmp_path):
    from nas.export.onnx import export_onnx, max_abs_diff_vs_torch

    net = boost(tiny("bisenetv2"), BoosterConfig(slimmable=True, detail=True)).eval()
    folders = export_widths(net, tmp_path, ref="bisenetv2",
                            model_args={"width_mult": 0.125, "head_width": 64}, num_classes=4)
    plain = load_slim(folders[0.25])
    x = torch.randn(1, 3, 64, 96)
    onnx = export_onnx(plain, [x])
    assert max_abs_diff_vs_torch(plain, [x], onnx) < 1e-4
