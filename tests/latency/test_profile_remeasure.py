"""`nas profile --remeasure-slow`: items timed only on a slow host are measured again, and the
split keeps a key's quiet rows (real ONNX Runtime; the slow row is a stored row whose batch
calibration is 3x the others', as a slow host leaves it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from latency.devices import get_device
from latency.ops import conv_spec
from latency.profilers.base import Measurement
from latency.store import Store, base_key, block_key
from nas.cli.main import main


def _argv(env: dict[str, Path], *extra: str) -> list[str]:
    return ["profile", "--device", "cpu-test", "--devices", str(env["devices"]),
            "--store", str(env["store"]), "--rounds", "2", "--runs", "1", "--warmup", "0",
            "--no-progress", *extra]


def _slow_copy(row: pd.Series, factor: float) -> Measurement:
    """The stored measurement of `row` as if its batch had run `factor` x slower."""
    extra = json.loads(row["extra"])
    extra["calib_ms"] = [c * factor for c in extra["calib_ms"]]
    return Measurement(median_ms=row["median_ms"] * factor, p10_ms=row["p10_ms"],
                       p90_ms=row["p90_ms"], cv=row["cv"], runs=int(row["runs"]),
                       rounds=int(row["rounds"]), runtime=row["runtime"],
                       versions=json.loads(row["versions"]), extra=extra)


def _three_quiet_and_one_slow(env: dict[str, Path], factor: float) -> tuple:
    """Three blocks measured for real, and a fourth stored as if timed `factor` x slower."""
    specs = [conv_spec(4 + 2 * i, 8, 8, 8, k=1) for i in range(4)]
    (env["tmp"] / "b.jsonl").write_text("".join(json.dumps(s.to_dict()) + "\n"
                                                for s in specs[:3]))
    assert main(_argv(env, "--blocks", str(env["tmp"] / "b.jsonl"))) == 0
    store = Store(env["store"])
    first = store.rows("cpu-test", "block").iloc[0]
    assert store.add_block("cpu-test", specs[3], _slow_copy(first, factor))
    return store, specs, get_device("cpu-test", [str(env["devices"])])


def test_remeasure_slow_measures_only_the_slow_items_and_appends(env, capsys) -> None:
    from latency.profilers.campaign import remeasure_plan

    store, specs, device = _three_quiet_and_one_slow(env, 3.0)

    plan = remeasure_plan(store, device)
    assert [block_key(b) for b in plan.blocks] == [block_key(specs[3])]
    assert plan.networks == [] and len(plan.pending(store)) == 1

    before = store.rows("cpu-test", "block")
    capsys.readouterr()
    assert main(_argv(env, "--remeasure-slow")) == 0
    out = capsys.readouterr()
    assert "1 items planned" in out.err and "added 1 measurements" in out.out
    rows = store.rows("cpu-test", "block")
    assert len(rows) == 5 and rows.key.iloc[4] == block_key(specs[3]) + "#1"
    assert [base_key(k) for k in rows.key] == [*before.key, block_key(specs[3])]
    pd.testing.assert_frame_equal(rows.iloc[:4], before)  # append-only


def test_slow_factor_flags_rows_a_little_slower_than_the_quiet_speed(env, capsys) -> None:
    from latency.profilers.campaign import remeasure_plan

    store, specs, device = _three_quiet_and_one_slow(env, 1.10)
    assert remeasure_plan(store, device).blocks == []  # under the default 1.15x
    assert [block_key(b) for b in remeasure_plan(store, device, factor=1.05).blocks] \
        == [block_key(specs[3])]
    capsys.readouterr()
    assert main(_argv(env, "--remeasure-slow", "--slow-factor", "1.05")) == 0
    out = capsys.readouterr()
    assert "1 items planned" in out.err and "added 1 measurements" in out.out


def test_slow_factor_is_checked(env, capsys) -> None:
    assert main(_argv(env, "--remeasure-slow", "--slow-factor", "0.9")) == 2
    assert "--slow-factor: expected a factor >= 1.0, got 0.9" in capsys.readouterr().err
    assert main(_argv(env, "--slow-factor", "1.05", "--n", "3", "--space", "rtseg")) == 2
    assert "--slow-factor only applies with --remeasure-slow" in capsys.readouterr().err


def test_remeasure_slow_refuses_a_sampling_request(env, capsys) -> None:
    assert main(_argv(env, "--remeasure-slow", "--n", "3", "--space", "rtseg")) == 2
    assert "--remeasure-slow takes its items from the store" in capsys.readouterr().err


def _rows(calibs: list[float], ms: list[float], groups: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"median_ms": ms, "group": groups,
                         "extra": [json.dumps({"calib_ms": [c] * 3}) for c in calibs]})


def test_prefer_quiet_keeps_the_rows_near_a_keys_quietest_one() -> None:
    from latency.predictors.calibration import prefer_quiet

    # e: a 1.10x repeat beside a quiet one goes, though 1.10x is under SLOW_FACTOR; f: within 5%
    df = _rows([1.10, 1.0, 1.03, 1.0], [1.1, 1.0, 2.06, 2.0], ["e", "e", "f", "f"])
    assert prefer_quiet(df, list(df["group"])).tolist() == [False, True, True, True]


def test_prefer_quiet_keeps_a_keys_quiet_rows_only_when_it_has_one() -> None:
    from latency.predictors.calibration import prefer_quiet

    df = _rows([1.0, 1.0, 1.5, 1.0, 1.5, 1.02], [1.0, 2.0, 2.9, 3.0, 4.5, 5.0],
               ["a", "b", "b", "c", "d", "d"])
    keep = prefer_quiet(df, list(df["group"]))
    # b's slow repeat goes (b has a quiet row); d keeps its quiet row; a and c have one row each
    assert keep.tolist() == [True, True, False, True, False, True]
    only_slow = _rows([1.0, 1.0, 1.5], [1.0, 2.0, 3.0], ["a", "b", "c"])
    assert prefer_quiet(only_slow, list(only_slow["group"])).all()
    no_calib = pd.DataFrame({"median_ms": [1.0, 2.0], "extra": [None, "{}"]})
    assert prefer_quiet(no_calib, ["a", "a"]).all()


def test_split_collapses_a_remeasured_key_to_its_quiet_row() -> None:
    from latency.predictors.split import _collapse

    df = _rows([1.0, 1.5, 1.0, 1.0], [1.0, 3.0, 2.0, 4.0], ["x", "y", "y", "z"])
    out = _collapse(df.drop(columns="group"), pd.Series(["x", "y", "y", "z"]))
    got = dict(zip(out["group"], out["median_ms"], strict=True))
    assert got == {"x": 1.0, "y": 2.0, "z": 4.0}
    assert dict(zip(out["group"], out["n_repeats"], strict=True))["y"] == 1
    assert np.isfinite(out["median_ms"]).all()

