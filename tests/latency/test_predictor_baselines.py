"""Baselines on the same split: lookup table, FLOPs-linear per op, per-op random forest."""

from __future__ import annotations

import numpy as np
import pytest

from latency.features import block_macs, networks_from_rows, specs_from_rows
from latency.ops import conv_spec
from latency.predictors import (
    BASELINES,
    FlopsLinearPredictor,
    LookupPredictor,
    create_predictor,
    load_predictor,
    split_by_arch,
)
from latency.predictors.forest import ForestPredictor
from latency.predictors.synthetic import synthetic_rows
from nas.errors import UserError


@pytest.fixture(scope="module")
def split():
    blocks, networks = synthetic_rows(30, 200, seed=1)
    return split_by_arch(blocks, networks, test_frac=0.25, seed=1)


@pytest.mark.parametrize("kind", BASELINES)
def test_baseline_fits_predicts_and_round_trips(kind, split, tmp_path) -> None:
    pred = create_predictor(kind, device="toy").fit(split.train_blocks, split.train_networks)
    specs = specs_from_rows(split.test_blocks)
    ms = pred.predict(specs)
    assert ms.shape == (len(specs),) and np.all(np.isfinite(ms)) and np.all(ms > 0)
    measured = split.test_blocks["median_ms"].to_numpy()
    assert np.median(np.abs(ms / measured - 1)) < 0.6  # in the right ballpark, not garbage
    nets = networks_from_rows(split.test_networks)
    back = load_predictor(pred.save(tmp_path / f"{kind}.pt"), "toy")
    np.testing.assert_allclose(back.predict(specs), ms, rtol=1e-6)
    np.testing.assert_allclose(back.predict_network(nets), pred.predict_network(nets), rtol=1e-6)
    with pytest.raises(UserError, match="not differentiable"):
        pred.expected([])


def test_lookup_exact_hit_then_nearest_within_op(split) -> None:
    pred = LookupPredictor().fit(split.train_blocks)
    specs = specs_from_rows(split.train_blocks)
    np.testing.assert_allclose(pred.predict(specs), split.train_blocks["median_ms"], rtol=1e-9)
    convs = [s for s in specs if s.op == "conv" and s.groups == 1]
    near = convs[0].with_(cout=convs[0].cout + 1)  # a miss: its neighbour is the original
    assert near.key() not in {s.key() for s in specs}
    row = split.train_blocks.iloc[specs.index(convs[0])]
    assert pred.predict([near])[0] == pytest.approx(row["median_ms"])


def test_flops_linear_recovers_an_exact_line() -> None:
    import json

    import pandas as pd

    specs = [conv_spec(c, 2 * c, h, h, k=k) for c in (8, 16, 32) for h in (8, 16) for k in (1, 3)]
    ms = [0.05 + 2e-7 * block_macs(s) for s in specs]
    df = pd.DataFrame({"spec": [json.dumps(s.to_dict()) for s in specs], "median_ms": ms})
    pred = FlopsLinearPredictor().fit(df)
    a, b = pred.lines[0]
    assert a == pytest.approx(0.05, rel=1e-6) and b == pytest.approx(2e-7, rel=1e-6)


def test_forest_traversal_matches_sklearn(split) -> None:
    from sklearn.ensemble import RandomForestRegressor

    from latency.predictors.forest import _flatten, _predict_flat

    pred = ForestPredictor(n_estimators=5).fit(split.train_blocks)
    x = pred.schema.encode(specs_from_rows(split.test_blocks))
    y = np.log(split.test_blocks["median_ms"].to_numpy())
    rf = RandomForestRegressor(n_estimators=5, random_state=0).fit(x, y)
    flat = {k: v.numpy() for k, v in _flatten(rf).items()}
    np.testing.assert_allclose(_predict_flat(flat, x), rf.predict(x), rtol=1e-9)
