"""FFNet's memoised block parts: the same blocks as built afresh, bounded, invisible to callers."""

from __future__ import annotations

import random
from typing import Any

import pytest

import search_spaces
from nas.search.optuna_space import FFNetChoices, random_arch
from search_spaces.ffnet import blocks as ffnet_block_module
from search_spaces.ffnet.blocks import clear_block_caches, ffnet_block_parts, ffnet_blocks

SIZES = ((64, 128), (96, 160), (65, 129))  # an odd size too: strides round up


def _archs(n: int, seed: int, **size: Any) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [random_arch(rng, FFNetChoices(**size)) for _ in range(n)]


@pytest.mark.parametrize("size", [{"width_mult": 0.125, "max_depth": 2},
                                  {"width_mult": 0.25, "max_depth": 6}])
def test_cached_blocks_equal_fresh_ones_across_sizes_and_classes(size) -> None:
    archs = _archs(100, 1, **size)
    clear_block_caches()
    for hw in SIZES:  # interleaved sizes and class counts: a key missing a field would show
        for n_cls in (19, 7):
            for arch in archs:
                got = ffnet_blocks(arch, hw, n_cls)
                want = ffnet_blocks(arch, hw, n_cls, cached=False)
                assert got == want
                assert [b.to_dict() for b in got] == [b.to_dict() for b in want]


def test_space_blocks_use_the_cache_and_presets_match() -> None:
    space = search_spaces.get("ffnet")
    for arch in space.presets().values():
        assert space.blocks(arch, (128, 256)) == ffnet_blocks(
            space.validate(arch), (128, 256), 19, cached=False)


def test_callers_get_fresh_lists() -> None:
    arch = _archs(1, 2, width_mult=0.125, max_depth=2)[0]
    first = ffnet_blocks(arch, (64, 128), 19)
    n = len(first)
    first.clear()
    assert len(ffnet_blocks(arch, (64, 128), 19)) == n
    # equal calls share the cached part objects (what predict_archs relies on)
    a, b = ffnet_block_parts(arch, (64, 128), 19), ffnet_block_parts(arch, (64, 128), 19)
    assert all(x is y for x, y in zip(a, b, strict=True))


def test_caches_are_bounded() -> None:
    for fn in ffnet_block_module._PARTS:
        info = fn.cache_info()
        assert info.maxsize is not None and 0 < info.maxsize <= 10_000
