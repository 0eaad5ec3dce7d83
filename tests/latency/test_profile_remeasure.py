"""`nas profile --remeasure-slow`: items timed only on a slow host are measured again, and the
split keeps a key's fastest row; `--repeats K` tops every stored item up to K rows (real ONNX
Runtime; the slow row is a stored row whose batch
calibration is 3x the others', as a slow host leaves it)."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_split_collapses_a_remeasured_key_to_its_fastest_row() -> None:
    from latency.predictors.split import _collapse

    # y's repeat ran faster though its calibration was slower: the fastest row wins, whole
    df = _rows([1.0, 1.0, 1.5, 1.0], [1.0, 3.0, 2.0, 4.0], ["x", "y", "y", "z"])
    out = _collapse(df.drop(columns="group"), pd.Series(["x", "y", "y", "z"]))
    assert out["group"].tolist() == ["x", "y", "z"]  # first-seen order
    assert out["median_ms"].tolist() == [1.0, 2.0, 4.0]
    assert out["n_repeats"].tolist() == [1, 2, 1]
    assert json.loads(out["extra"].iloc[1])["calib_ms"] == [1.5] * 3


def test_repeats_tops_every_item_up_in_passes_and_resumes(env, capsys) -> None:
    from latency.profilers.campaign import repeat_plan

    store, specs, device = _three_quiet_and_one_slow(env, 1.0)
    assert store.add_block("cpu-test", specs[0], _slow_copy(store.rows("cpu-test").iloc[0], 1.0),
                           repeat=True)  # specs[0] has 2 rows, the others 1
    plan = repeat_plan(store, device, 3)
    want = [block_key(s) for s in specs] + [block_key(s) for s in specs[1:]]
    assert [block_key(b) for b in plan.blocks] == want  # pass 1 over all, then pass 2
    assert len(plan.pending(store)) == len(want)
    capsys.readouterr()
    assert main(_argv(env, "--repeats", "3", "--kind", "block")) == 0
    assert f"added {len(want)} measurements" in capsys.readouterr().out
    rows = store.rows("cpu-test", "block")
    assert (rows["key"].map(base_key).value_counts() == 3).all()
    assert len(repeat_plan(store, device, 3)) == 0  # run again: nothing left to do
    assert main(_argv(env, "--repeats", "3")) == 0
    assert "added 0 measurements" in capsys.readouterr().out
    assert len(store.rows("cpu-test", "block")) == len(rows)


def test_repeats_is_checked(env, capsys) -> None:
    assert main(_argv(env, "--repeats", "1")) == 2
    assert "--repeats: expected K >= 2 (rows per item), got 1" in capsys.readouterr().err
    assert main(_argv(env, "--repeats", "2", "--n", "3", "--space", "rtseg")) == 2
    assert "--repeats takes its items from the store" in capsys.readouterr().err
    assert main(_argv(env, "--kind", "network")) == 2
    assert "--kind only applies with --repeats" in capsys.readouterr().err


def test_repeats_of_one_space_and_the_host_wait_flag(env, capsys) -> None:
    from latency.profilers.campaign import repeat_plan

    store, specs, device = _three_quiet_and_one_slow(env, 1.0)
    assert main(_argv(env, "--space", "rtseg", "--n", "2")) == 0  # two blocks of space rtseg
    rtseg = store.rows("cpu-test", "block").query("space == 'rtseg'")["key"].tolist()
    assert len(rtseg) == 2
    plan = repeat_plan(store, device, 2, kinds=("block",), spaces=("rtseg",))
    assert sorted(block_key(b) for b in plan.blocks) == sorted(rtseg)
    capsys.readouterr()
    # a huge wait budget costs nothing on a quiet host: batches at its quiet speed are stored
    assert main(_argv(env, "--repeats", "2", "--space", "rtseg", "--host-wait", "1")) == 0
    assert "added 2 measurements" in capsys.readouterr().out
    rows = store.rows("cpu-test", "block")
    assert rows["key"].map(base_key).value_counts()[rtseg].tolist() == [2, 2]
    assert "host_speed" in json.loads(rows["extra"].iloc[-1])


def test_host_wait_and_repeat_space_are_checked(env, capsys) -> None:
    assert main(_argv(env, "--host-wait", "-1", "--n", "1", "--space", "rtseg")) == 2
    assert "--host-wait: expected seconds >= 0, got -1.0" in capsys.readouterr().err
    assert main(_argv(env, "--repeats", "2", "--space", "nope")) == 2
    assert "nope" in capsys.readouterr().err
