"""`nas search --space ffnet` (Optuna): outputs, constraint handling, resume, refusals."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest

from nas.cli.main import main

HW = (64, 128)
SIZE = f"{HW[0]}x{HW[1]}"


@pytest.fixture(scope="module")
def ffnet_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A NAS_HOME whose `cpu` MLP predictor knows FFNet tiny blocks (analytic latencies)."""

    import search_spaces
    from latency.predictors import MLPPredictor
    from latency.predictors.synthetic import label_blocks
    from nas.paths import predictor_path
    from nas.search.optuna_space import FFNetChoices, extreme_archs, random_arch

    home = tmp_path_factory.mktemp("nas_home_ffnet")
    with pytest.MonkeyPatch.context() as mp:  # session scope: no monkeypatch fixture
        mp.setenv("NAS_HOME", str(home))
        sp = search_spaces.get("ffnet")
        choices = FFNetChoices(width_mult=0.125, max_depth=2)
        rng = random.Random(0)
        archs = extreme_archs(choices) + [random_arch(rng, choices) for _ in range(40)]
        blocks = [b for a in archs for b in sp.blocks(a, HW)]
        rows = label_blocks(list({b.key(): b for b in blocks}.values()), device="cpu")
        MLPPredictor(device="cpu", epochs=100, seed=0).fit(rows).save(predictor_path("cpu"))
    return home


@pytest.fixture
def env(ffnet_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NAS_HOME", str(ffnet_home))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _range() -> tuple[float, float]:
    from latency.predictors import load_for_device
    from nas.search.optuna_driver import attainable
    from nas.search.optuna_space import FFNetChoices

    return attainable(load_for_device("cpu"), FFNetChoices(width_mult=0.125, max_depth=2), HW, 19)


def _search(data: Path, target: float, name: str, *extra: str) -> int:
    return main(["search", "--space", "ffnet", "--target-ms", f"{target:.6f}", "--device", "cpu",
                 "--data", str(data), "--input-size", SIZE, "--preset", "tiny", "--name", name,
                 "--no-progress", "--no-measure", *extra])


def test_ffnet_study_writes_outputs_and_respects_the_constraint(env, synth_dir, capsys) -> None:
    lo, hi = _range()
    target = lo + 0.3 * (hi - lo)
    assert _search(synth_dir, target, "run", "--trials", "4") == 0
    out = capsys.readouterr().out
    folder = env / "runs" / "run"
    summary = json.loads((folder / "summary.json").read_text())
    for key in ("target_ms", "predicted_ms", "measured_ms", "miou", "params", "macs"):
        assert key in summary
    assert summary["predicted_ms"] <= target
    assert summary["params"] > 0 and summary["macs"] > 0
    import search_spaces

    search_spaces.get("ffnet").validate(json.loads((folder / "arch.json").read_text()))
    assert (folder / "plots" / "pareto.png").stat().st_size > 0
    assert (folder / "subnet.pt").is_file()
    csv = (folder / "trials.csv").read_text().splitlines()
    assert len(csv) == 1 + 4 and "user_attrs_predicted_ms" in csv[0]
    # every trial records its predicted latency and constraint; rejected ones are not trained
    con = sqlite3.connect(folder / "study.db")
    n_con = con.execute("select count(*) from trial_system_attributes "
                        "where key like 'constraints:%'").fetchone()[0]
    assert n_con == 4
    assert "trial 3:" in out


def test_rerun_resumes_and_a_changed_target_is_refused(env, synth_dir, capsys) -> None:
    lo, hi = _range()
    target = (lo + hi) / 2
    assert _search(synth_dir, target, "res", "--trials", "2") == 0
    assert _search(synth_dir, target, "res", "--trials", "3") == 0
    out = capsys.readouterr().out
    assert "resuming: 2 finished trials, 1 to go" in out
    con = sqlite3.connect(env / "runs" / "res" / "study.db")
    assert con.execute("select count(*) from trials").fetchone()[0] == 3
    assert _search(synth_dir, target * 1.5, "res", "--trials", "3") == 2
    err = capsys.readouterr().err
    assert "was created for another search" in err and "target_ms" in err
    assert len(err.strip().splitlines()) == 1


def test_infeasible_candidates_are_not_trained(env, synth_dir, capsys) -> None:
    lo, _hi = _range()
    # just above the lightest arch: nearly every sampled candidate is over the target
    assert _search(synth_dir, lo * 1.0001, "tight", "--trials", "3") in (0, 2)
    folder = env / "runs" / "tight"
    assert not (folder / "trials").exists() or len(list((folder / "trials").iterdir())) <= 3
    import optuna

    study = optuna.load_study(study_name="tight", storage=f"sqlite:///{folder / 'study.db'}")
    for t in study.trials:
        over = t.user_attrs["predicted_ms"] > lo * 1.0001
        assert t.constraints["latency_ms"] > 0 if over else t.constraints["latency_ms"] <= 0
        if over:
            assert t.user_attrs["trained"] is False
            assert not (folder / "trials" / f"{t.number:04d}").exists()


def test_multi_objective_writes_a_pareto_front(env, synth_dir) -> None:
    lo, hi = _range()
    assert _search(synth_dir, hi, "mo", "--trials", "3", "--objectives", "miou,latency") == 0
    summary = json.loads((env / "runs" / "mo" / "summary.json").read_text())
    assert summary["objectives"] == ["miou", "latency"]
    front = summary["pareto"]
    assert front and all(p["predicted_ms"] <= hi for p in front)
    ms = [p["predicted_ms"] for p in front]
    miou = [p["miou"] for p in front]
    assert ms == sorted(ms) and miou == sorted(miou)  # faster points are less accurate


@pytest.mark.parametrize("extra, needle", [
    (("--preset", "tinny"), "did you mean: tiny"),
    (("--max-depth", "40"), "--max-depth: expected an integer in [1, 32]"),
    (("--widths", "64,1000"), "--widths: 1000 is outside the FFNet space"),
    (("--storage", "postgresql://nas@127.0.0.1:1/nas"), "cannot connect"),
    (("--objectives", "latency"), "--objectives latency"),
])
def test_bad_input_is_one_line(env, synth_dir, capsys, extra, needle) -> None:
    args = ["search", "--space", "ffnet", "--target-ms", "1", "--device", "cpu", "--data",
            str(synth_dir), "--input-size", SIZE, "--name", "bad", "--no-progress", "--trials",
            "1"]
    if "--preset" not in extra:
        args += ["--preset", "tiny"]
    assert main(args + list(extra)) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_batched_constraint_check_equals_the_predictor(env) -> None:
    """`predict_archs` (distinct blocks predicted once) == `predict_network` on every block."""
    import numpy as np

    import search_spaces
    from latency.predictors import load_for_device
    from nas.search.optuna_space import FFNetChoices, predict_archs, random_arch

    pred, sp = load_for_device("cpu"), search_spaces.get("ffnet")
    rng = random.Random(3)
    archs = [random_arch(rng, FFNetChoices(width_mult=0.125, max_depth=2)) for _ in range(50)]
    fast = predict_archs(pred, archs, HW, 19)
    plain = pred.predict_network([sp.blocks(a, HW, 19) for a in archs])
    assert np.allclose(fast, plain, rtol=1e-5) and len(set(np.round(fast, 6))) > 10


def test_suggested_archs_stay_in_the_chosen_space() -> None:
    import optuna

    from nas.search.optuna_space import FFNetChoices, suggest_arch

    choices = FFNetChoices(width_mult=0.25, max_depth=3, widths=(64, 128))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        arch = suggest_arch(study.ask(), choices)
        assert max(arch["depths"]) <= 3 and set(arch["widths"]) <= {16, 32}
        assert arch["widths"] == sorted(arch["widths"])
        assert len(arch["depths"]) in (3, 4)
