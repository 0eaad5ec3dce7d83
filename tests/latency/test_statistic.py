"""The fast figure (fastest round median) that predictors learn and exports report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from latency.statistic import fast_ms, with_fast_ms


def test_fast_ms_is_the_fastest_round_median_else_the_median() -> None:
    assert fast_ms(2.0, {"round_medians_ms": [2.1, 1.7, 2.0]}) == pytest.approx(1.7)
    assert fast_ms(2.0, json.dumps({"round_medians_ms": [2.1, 1.9]})) == pytest.approx(1.9)
    for extra in ({}, "{}", None, float("nan"), "not json", {"round_medians_ms": []}, [1, 2]):
        assert fast_ms(2.0, extra) == 2.0


def test_with_fast_ms_keeps_the_stored_median() -> None:
    rows = pd.DataFrame({"median_ms": [2.0, 3.0],
                         "extra": [json.dumps({"round_medians_ms": [2.2, 1.8, 2.0]}), "{}"]})
    out = with_fast_ms(rows)
    assert out["median_ms"].tolist() == pytest.approx([1.8, 3.0])
    assert out["stored_median_ms"].tolist() == [2.0, 3.0]
    assert rows["median_ms"].tolist() == [2.0, 3.0]  # a copy: the caller's rows are untouched
    empty = with_fast_ms(rows.iloc[0:0])
    assert len(empty) == 0 and "stored_median_ms" in empty


def test_profiled_rows_reach_the_predictor_as_their_fastest_round(tmp_path) -> None:
    """Real ORT measurements stored and read back the way `nas predictor train` reads them."""
    from latency.devices import get_device
    from latency.ops import conv_spec
    from latency.profilers import get_profiler
    from latency.store import Store
    from nas.cli.cmd_predictor import load_rows

    prof = get_profiler(get_device("cpu"), rounds=4, runs=3, warmup=2)
    specs = [conv_spec(8, 8, 16, 16), conv_spec(16, 16, 8, 8)]
    db = tmp_path / "m.db"
    with Store(db) as st:
        for spec, m in zip(specs, prof.measure_many(specs), strict=True):
            st.add_block("cpu", spec, m, space="toy")
    blocks, _ = load_rows("cpu", str(db))
    for extra, fast, stored in zip(blocks["extra"], blocks["median_ms"],
                                   blocks["stored_median_ms"], strict=True):
        rounds = (json.loads(extra) if isinstance(extra, str) else extra)["round_medians_ms"]
        assert len(rounds) == 4 and fast == pytest.approx(min(rounds))
        assert fast <= stored and np.isfinite(fast)
