"""FFNet presets: the paper's models, counted exactly as the official implementation counts them."""

from __future__ import annotations

import json

import pytest
import torch

import search_spaces
from nas.models import create_model, get_entry
from nas.models.counting import count_macs, count_params, profile_model
from search_spaces.ffnet import FFNet
from search_spaces.ffnet.presets import PRESETS

# (preset, input, params, MACs, output) — the official FFNet implementation's counts.
OFFICIAL = [
    ("ffnet150_AAA", (1024, 2048), 98_843_475, 1_045_187, [1, 19, 256, 512]),
    ("ffnet18_dAAC", (1024, 2048), 13_403_347, 47_459, [1, 19, 128, 256]),
    ("ffnet78S_BCC_mobile", (512, 1024), 26_828_435, 79_594, [1, 19, 128, 256]),
    ("ffnet46NS_CCC_mobile", (512, 1024), 12_530_995, 28_011, [1, 19, 128, 256]),
]


def _meta_net(name: str, num_classes: int = 19) -> FFNet:
    """Build on the meta device: the full structure, no weight memory, no init cost."""
    arch = search_spaces.get("ffnet").presets()[name]
    with torch.device("meta"):
        return FFNet(arch, num_classes)


@pytest.mark.parametrize(("name", "hw", "params", "mmacs", "shape"), OFFICIAL)
def test_preset_matches_official_counts(
    name: str, hw: tuple[int, int], params: int, mmacs: int, shape: list[int]
) -> None:
    net = _meta_net(name)
    macs, out_shape = count_macs(net, (1, 3, *hw))
    assert count_params(net) == params
    assert round(macs / 1e6) == mmacs  # GMACs to three decimals, as the official table
    assert out_shape == shape
    assert get_entry(name).input_hw == hw


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("ffnet101_AAA", [1, 19, 256, 512]),  # bottleneck, stride-1 first stage
        ("ffnet122N_CBB", [1, 19, 256, 512]),  # 3-stage, GPU-large
        ("ffnet50_dAAA", [1, 19, 128, 256]),  # bottleneck, `d`
        ("ffnet150S_dBBB", [1, 19, 128, 256]),
        ("ffnet22S_dBBB_mobile", [1, 19, 128, 256]),
    ],
)
def test_preset_output_shape(name: str, shape: list[int]) -> None:
    _, out_shape = count_macs(_meta_net(name), (1, 3, *get_entry(name).input_hw))
    assert out_shape == shape


def test_every_table_2_to_4_model_is_a_preset() -> None:
    presets = search_spaces.get("ffnet").presets()
    assert len(presets) == 16 + 16 + 5 + 14
    for name in ("ffnet34_ABB", "ffnet18_dABB", "ffnet86S_BBB", "ffnet40S_BCC_mobile",
                 "ffnet30S_dBBB_mobile", "ffnet122NS_CBB_mobile", "ffnet74N_CBB"):
        assert name in presets


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_and_forwards(name: str) -> None:
    space = search_spaces.get("ffnet")
    arch = space.presets()[name]
    assert space.validate(json.loads(json.dumps(arch))) == arch
    entry = get_entry(name)
    assert entry.family == "ffnet"
    # The output stride is 4, or 8 with a stride-2 first stage (the `d` models).
    stride = 8 if arch["first_stride"] == 2 and len(arch["depths"]) == 4 else 4
    _, shape = count_macs(_meta_net(name, 7), (1, 3, 64, 128))
    assert shape == [1, 7, 64 // stride, 128 // stride]


def test_create_model_by_name_builds_real_weights() -> None:
    model = create_model("ffnet22S_BBB_mobile", num_classes=5).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 96))
    assert out.shape == (1, 5, 16, 24)
    assert torch.isfinite(out).all()
    assert profile_model(model, (64, 96)).params == count_params(model)


def test_preset_block_macs_equal_network_macs() -> None:
    """The latency blocks of a paper model add up to its MACs (28.011 G, Table 4's 46NS C-C-C)."""
    space = search_spaces.get("ffnet")
    arch = space.presets()["ffnet46NS_CCC_mobile"]
    net_macs, _ = count_macs(_meta_net("ffnet46NS_CCC_mobile"), (1, 3, 512, 1024))
    assert sum(b.macs() for b in space.blocks(arch, (512, 1024))) == net_macs == 28_010_610_688
