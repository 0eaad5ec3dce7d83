"""experiments/bench_rtseg_search.py end to end at the `tiny` preset, a few steps per stage.

The `cpu` predictor is fitted on analytic latencies (profiling real blocks takes minutes), so the
latency checks say nothing here; this test checks that every part runs, shares one pretrained
supernet, and reports and writes what the acceptance asks for. Timing is real ONNX Runtime.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

HW = (64, 128)


def _fit_cpu_predictor() -> None:
    """Fit and save the `cpu` MLP (in $NAS_HOME) on analytic latencies of tiny RTSeg blocks."""
    import search_spaces
    from latency.predictors import MLPPredictor
    from latency.predictors.synthetic import label_blocks
    from latency.sampler import sample_blocks
    from nas.paths import predictor_path

    blocks = sample_blocks(["rtseg"], 200, 0, HW, cfg={"rtseg": {"preset": "tiny"}})
    space, rng = search_spaces.get("rtseg"), random.Random(1)
    for _ in range(10):  # whole networks, so the smallest and largest archs are covered
        blocks += space.blocks(space.sample(rng, preset="tiny"), HW)
    rows = label_blocks(list({b.key(): b for b in blocks}.values()), device="cpu")
    MLPPredictor(device="cpu", epochs=100, seed=0).fit(rows).save(predictor_path("cpu"))


def test_bench_runs_every_part_and_writes_its_json(tmp_path: Path, monkeypatch, capsys) -> None:
    from experiments import bench_rtseg_search as bench
    from nas.data.synth_cache import ensure_synth

    home = tmp_path / "home"
    monkeypatch.setenv("NAS_HOME", str(home))  # restored afterwards; main() sets it again
    _fit_cpu_predictor()
    data = ensure_synth(HW, 6, 3, 0, root=tmp_path / "synth")
    out = tmp_path / "bench.json"
    res = bench.main(["--preset", "tiny", "--input-size", "64x128", "--iterations", "2", "30",
                      "2", "--data", str(data), "--out", str(tmp_path / "work"), "--json",
                      str(out), "--nas-home", str(home), "--rounds", "2", "--step-repeats", "2",
                      "--seeds", "2", "--pool", "2"])
    printed = capsys.readouterr().out

    # one pretraining, shared by the two later searches
    assert printed.count("[pretrain] 2 iterations") == 1
    assert printed.count("[pretrain] already done") == 2
    assert json.loads(out.read_text())["checks"] == res["checks"]

    # no store in this home: no quiet reference, so the winners were timed without waiting
    assert res["winners_host"] == {"host_speed": None, "waited_s": 0.0}
    assert "fastest of 3 passes" in res["measured_by"]
    searches = res["searches"]
    assert [s["frac"] for s in searches] == [0.2, 0.5, 0.8]
    assert searches[0]["target_ms"] < searches[1]["target_ms"] < searches[2]["target_ms"]
    for s in searches:
        assert s["measured_ms"] > 0 and s["predicted_ms"] > 0
        assert s["error"] == pytest.approx(s["measured_ms"] / s["target_ms"] - 1)

    (comp,) = res["comparisons"]  # the middle target only
    assert comp["target_ms"] == searches[1]["target_ms"]
    rows = {r["name"].split()[0]: r for r in comp["rows"] if r["compared"]}
    searched = rows["searched"]
    assert set(rows) >= {"searched", "uniform", "random1"}
    assert {op for op in rows["uniform"]["arch"].split(" w")[0] if op.isalpha()} == {"L"}
    assert comp["seeds"] == 2
    for name, r in rows.items():
        assert 0.0 <= r["miou"] <= 1.0 and r["params"] > 0 and r["measured_ms"] > 0, name
        assert len(r["miou_seeds"]) == 2 and r["miou"] == pytest.approx(
            sum(r["miou_seeds"]) / 2), name
        if name.startswith("random"):
            assert abs(r["predicted_ms"] / searched["predicted_ms"] - 1) <= 0.08
    # contenders were picked from a screen timed with the searched arch: the uniform rung kept
    # is the one closest in measured latency
    screen = comp["screen"]
    ladder = screen["uniform_ladder"]
    assert screen["screened"] == 1 + len(ladder) + len(screen["random_pool"])
    kept = min(ladder, key=lambda u: abs(u["measured_ms"] / screen["screen_searched_ms"] - 1))
    # the name carries the fraction to 3 decimals: at most half a unit of the last digit off
    assert comp["uniform_frac"] == pytest.approx(kept["frac"], abs=5e-4 + 1e-9)
    assert (tmp_path / "work" / "search-0.50" / "contenders-pretrain" / "searched" / "seed1"
            / "summary.json").is_file()
    assert comp["rows"][-1]["name"] == "searched (search weights)"
    assert comp["rows"][-1]["compared"] is False

    steps = res["step_time"]
    assert set(steps["median_ms"]) == {"plain", "search", "search+kd"}
    assert all(v > 0 for v in steps["median_ms"].values())
    assert steps["search_over_plain"] == pytest.approx(
        steps["median_ms"]["search"] / steps["median_ms"]["plain"])

    assert {"three_different_archs", "target_0.50_within_10pct"} <= set(res["checks"])
    assert res["passed"] == all(res["checks"].values())
    for header in ("| frac | target ms | predicted ms | measured ms | error |",
                   "| name | arch | predicted ms | measured ms | vs searched | params | mIoU | seeds |",
                   "training step (batch"):
        assert header in printed


def test_bench_rejects_bad_fractions() -> None:
    from experiments import bench_rtseg_search as bench
    from nas.errors import UserError

    with pytest.raises(UserError, match="--fracs"):
        bench.main(["--fracs", "0.2", "0.5", "1.5"])
