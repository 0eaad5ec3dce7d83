"""RTSeg arch validation: bad archs fail with a UserError naming the field; sampling is valid."""

from __future__ import annotations

import copy
import json
import math
import random

import pytest

import search_spaces
from nas.arch import load_arch
from nas.errors import UserError
from search_spaces.rtseg.archs import MIN_KEEP
from search_spaces.rtseg.config import channel_groups, resolve

SPACE = search_spaces.get("rtseg")


@pytest.fixture
def arch() -> dict:
    return SPACE.sample(random.Random(0), **SPACE.small_cfg())


def _fails(arch: dict, *words: str) -> None:
    with pytest.raises(UserError) as err:
        SPACE.validate(arch)
    msg = str(err.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg


def test_sampled_arch_is_valid_and_reproducible(arch: dict) -> None:
    assert SPACE.validate(arch) == arch
    assert SPACE.sample(random.Random(0), **SPACE.small_cfg()) == arch
    _, cfg = resolve(arch["supernet"])
    for g, full in channel_groups(cfg).items():
        assert math.ceil(MIN_KEEP * full) <= len(arch["channels"][g]) <= full


def test_unknown_op(arch: dict) -> None:
    arch["ops"]["seg4"][0] = "conv5x5"
    _fails(arch, "ops.seg4[0]", "conv5x5", "mhsa")


def test_wrong_number_of_blocks(arch: dict) -> None:
    arch["ops"]["seg5"].append("lir")
    _fails(arch, "ops.seg5", "2")
    del arch["ops"]["seg5"]
    _fails(arch, "ops")


def test_too_many_channels(arch: dict) -> None:
    arch["channels"]["seg4"] = 17  # the tiny supernet has 16
    _fails(arch, "channels.seg4", "16")
    arch["channels"]["seg4"] = list(range(17))
    _fails(arch, "channels.seg4", "16")


def test_bad_indices(arch: dict) -> None:
    bad = copy.deepcopy(arch)
    bad["channels"]["head_mid"] = [0, 99]
    _fails(bad, "channels.head_mid", "99")
    bad["channels"]["head_mid"] = [1, 1]
    _fails(bad, "channels.head_mid", "repeated")
    bad["channels"]["head_mid"] = []
    _fails(bad, "channels.head_mid")
    bad["channels"]["head_mid"] = [-1]
    _fails(bad, "channels.head_mid", "-1")


def test_unknown_group_and_field(arch: dict) -> None:
    bad = copy.deepcopy(arch)
    bad["channels"]["seg9"] = 4
    _fails(bad, "channels", "seg9")
    bad = copy.deepcopy(arch)
    bad["chanels"] = {}
    _fails(bad, "chanels")


def test_arch_from_another_space(arch: dict) -> None:
    arch["space"] = "ffnet"
    _fails(arch, "space", "rtseg", "ffnet")


def test_bad_supernet_config(arch: dict) -> None:
    arch["supernet"] = {"preset": "huge", "width_mult": 1.0}
    _fails(arch, "supernet.preset", "huge")
    arch["supernet"] = {"preset": "tiny", "width_mult": "wide"}
    _fails(arch, "supernet.width_mult")


def test_counts_and_missing_groups_are_normalised(arch: dict) -> None:
    arch["channels"] = {"seg3": 3}
    norm = SPACE.validate(arch)
    assert norm["channels"]["seg3"] == [0, 1, 2]
    assert norm["channels"]["seg5"] == list(range(16))


def test_presets_load_as_arch_files(tmp_path) -> None:
    presets = SPACE.presets()
    assert set(presets) == {"rtseg-s", "rtseg-m", "rtseg-l"}
    for name, arch in presets.items():
        assert SPACE.validate(arch)["name"] == name
    bad = dict(presets["rtseg-s"], ops={"seg3": ["lir"]})
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(UserError, match="arch.json: arch field 'ops'"):
        load_arch(path)


def test_set_arch_rejects_an_arch_of_another_supernet() -> None:
    sup = SPACE.supernet(3, **SPACE.small_cfg())
    other = SPACE.sample(random.Random(1), preset="tiny", width_mult=2.0)
    with pytest.raises(UserError, match="supernet"):
        sup.set_arch(other)
