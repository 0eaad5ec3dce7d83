"""The batched constraint check (`predict_archs`) against the uncached path, bit for bit."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from nas.search.optuna_space import FFNetChoices, predict_archs, predict_nets, random_arch
from search_spaces.ffnet.blocks import clear_block_caches, ffnet_blocks

HW = (64, 128)


@pytest.fixture(scope="module")
def archs_and_predictor() -> tuple[list[dict[str, Any]], Any]:
    """200 random tiny FFNets and an MLP fitted (briefly) on analytic latencies of their blocks.

    Fitting on these archs' own blocks (at both test sizes) keeps every op in the schema.
    """
    from latency.predictors import MLPPredictor
    from latency.predictors.synthetic import label_blocks

    rng = random.Random(5)
    archs = [random_arch(rng, FFNetChoices(width_mult=0.125, max_depth=2)) for _ in range(200)]
    blocks = {b.key(): b for hw in (HW, (96, 160)) for a in archs for b in ffnet_blocks(a, hw, 19)}
    pred = MLPPredictor(device="test", epochs=3, seed=0).fit(label_blocks(list(blocks.values())))
    return archs, pred


def _uncached(pred: Any, archs: list[dict[str, Any]], hw: tuple[int, int]) -> np.ndarray:
    """The constraint check as it was before the block caches: fresh block lists, then one call."""
    return predict_nets(pred, [ffnet_blocks(a, hw, 19, cached=False) for a in archs])


def test_cached_constraint_check_is_bit_identical(archs_and_predictor) -> None:
    archs, pred = archs_and_predictor
    clear_block_caches()
    for hw in (HW, (96, 160), HW):  # cold caches, then another size, then warm caches
        fast = predict_archs(pred, archs, hw, 19)
        slow = _uncached(pred, archs, hw)
        assert np.array_equal(fast, slow)
        assert len(set(fast.tolist())) > 50  # the archs really differ in predicted latency
    # and still the plain per-block predictor figure (every block predicted, not deduplicated)
    plain = pred.predict_network([ffnet_blocks(a, HW, 19) for a in archs])
    assert np.allclose(predict_archs(pred, archs, HW, 19), plain, rtol=1e-5)


def test_subsets_and_repeats_match_the_uncached_path(archs_and_predictor) -> None:
    """Parts met again in a batch, or from an earlier batch, reuse their blocks correctly."""
    archs, pred = archs_and_predictor
    batch = archs[:7] + archs[:3] + archs[150:160]
    assert np.array_equal(predict_archs(pred, batch, HW, 19), _uncached(pred, batch, HW))
    one = predict_archs(pred, [archs[42]], HW, 19)
    assert one.shape == (1,) and one[0] == _uncached(pred, [archs[42]], HW)[0]
    assert predict_archs(pred, [], HW, 19).shape == (0,)
