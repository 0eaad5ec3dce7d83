"""Block sampler: blocks of every registered space plus range-covering perturbations."""

from __future__ import annotations

import random

import pytest

import search_spaces
from latency.blocks import BlockSpec
from latency.features import block_macs
from latency.ops import conv_spec
from latency.sampler import perturb_blocks, sample_blocks, sample_networks

BASE = [
    conv_spec(16, 32, 32, 64, k=3, stride=2),
    conv_spec(32, 32, 16, 32, k=3, groups=32),
    conv_spec(64, 96, 8, 16, k=1),
    BlockSpec("upsample", 32, 32, 8, 16, mode="bilinear", extra=(("scale", 2.0),)),
]


def test_perturbations_are_new_distinct_and_valid() -> None:
    out = perturb_blocks(BASE, 80, random.Random(0))
    keys = [b.key() for b in out]
    assert len(out) == 80 and len(set(keys)) == 80
    assert not set(keys) & {b.key() for b in BASE}
    for b in out:
        assert block_macs(b) >= 0  # builds and runs
        if b.groups > 1:  # depthwise stays depthwise
            assert b.groups == b.cin == b.cout
        if b.op == "upsample":  # a square op stays square
            assert b.cin == b.cout


def test_perturbations_cover_each_feature_range() -> None:
    out = perturb_blocks(BASE, 60, random.Random(1))
    convs = [b for b in out if b.op == "conv"]
    assert min(b.cin for b in convs) == 8  # half the smallest observed width
    assert max(b.cout for b in convs) == 96
    assert {b.k for b in convs} == {1, 3} and {b.stride for b in convs} == {1, 2}
    assert min(b.h for b in convs) == 4 and max(b.h for b in convs) == 32
    ups = [b for b in out if b.op == "upsample"]
    assert min(b.cin for b in ups) == 16 and min(b.h for b in ups) == 4


def test_sample_blocks_dedupes_and_is_deterministic() -> None:
    dup = BASE + [conv_spec(16, 32, 32, 64, k=3, stride=2)]
    a = sample_blocks([], 50, 3, (64, 128), base=dup)
    assert len(a) == 50 and len({b.key() for b in a}) == 50
    assert [b.key() for b in a] == [b.key() for b in sample_blocks([], 50, 3, (64, 128), base=dup)]
    assert {b.key() for b in BASE} <= {b.key() for b in a}  # the real blocks come first


@pytest.mark.parametrize("name", search_spaces.names())
def test_sampling_every_registered_space(name: str) -> None:
    space = search_spaces.get(name)
    cfg = space.small_cfg()
    nets = sample_networks(name, 3, 0, (64, 128), cfg)
    assert len(nets) == 3
    for arch, blocks in nets:
        assert blocks == space.blocks(arch, (64, 128)) and blocks
    five = sample_networks(name, 3, 0, (64, 128), cfg, num_classes=5)
    assert [a for a, _ in five] == [a for a, _ in nets]
    assert five[0][1] == space.blocks(five[0][0], (64, 128), 5)
    blocks = sample_blocks([name], 40, 0, (64, 128), cfg={name: cfg})
    assert 0 < len(blocks) <= 40 and len({b.key() for b in blocks}) == len(blocks)
    net_keys = {b.key() for _, bl in sample_networks(name, 8, 0, (64, 128), cfg) for b in bl}
    assert net_keys & {b.key() for b in blocks}  # real network blocks are in the sample
    assert {b.op_key for b in blocks} >= {b.op_key for _, bl in nets for b in bl}
