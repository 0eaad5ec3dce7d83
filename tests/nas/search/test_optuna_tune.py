"""`nas search --space rtseg --tune ...`: Optuna over short gradient searches."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import yaml

import search_spaces
from nas.cli.main import main

SIZE = "64x128"


def _tune(data: Path, target: float, name: str, *extra: str) -> int:
    return main(["search", "--space", "rtseg", "--target-ms", f"{target:.6f}", "--device", "cpu",
                 "--data", str(data), "--input-size", SIZE, "--preset", "tiny", "--name", name,
                 "--no-progress", "--no-measure", *extra])


def _rtseg_range() -> tuple[float, float]:
    from latency.predictors import load_for_device
    from nas.search.latency_loss import attainable_range

    return attainable_range("rtseg", {"preset": "tiny"}, load_for_device("cpu"), (64, 128), 19)


@pytest.mark.slow  # two tiny gradient searches: ~1-2 min on the shared 2-core host
def test_tune_runs_gradient_searches_as_trials(nas_env, synth_dir, capsys) -> None:
    from latency.predictors import load_for_device
    from nas.search.latency_loss import predicted_ms

    lo, hi = _rtseg_range()
    target = (lo + hi) / 2
    code = _tune(synth_dir, target, "tune", "--tune", "beta,arch_lr", "--trials", "2")
    folder = nas_env / "runs" / "tune"
    study = optuna.load_study(study_name="tune", storage=f"sqlite:///{folder / 'study.db'}")
    assert len(study.trials) == 2
    space, pred = search_spaces.get("rtseg"), load_for_device("cpu")
    feasible = []
    for t in study.trials:  # each trial is a whole gradient search run with its own config
        trial_dir = folder / "trials" / f"{t.number:04d}"
        cfg = yaml.safe_load((trial_dir / "config.yaml").read_text())
        assert cfg["driver"] == "gradient"
        assert cfg["config"]["beta"] == pytest.approx(t.params["beta"])
        assert cfg["config"]["arch_lr"] == pytest.approx(t.params["arch_lr"])
        arch = json.loads((trial_dir / "arch.json").read_text())
        ms = predicted_ms(pred, space, arch, (64, 128), 19)
        assert t.constraints["latency_ms"] == pytest.approx(ms - target, rel=1e-4, abs=1e-6)
        feasible.append(ms <= target)
    # a 12-step search may or may not reach a mid-range target; the outcome must say which
    if any(feasible):
        assert code == 0
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["tuned"] == ["beta", "arch_lr"] and summary["predicted_ms"] <= target
        assert (folder / "subnet.pt").is_file() and (folder / "arch.json").is_file()
    else:
        assert code == 2 and "no trained trial met --target-ms" in capsys.readouterr().err
    assert (folder / "trials.csv").is_file()


@pytest.mark.parametrize("extra, needle", [
    (("--tune", "bta"), "unknown --tune parameter 'bta'; did you mean: beta"),
])
def test_tune_bad_input(nas_env, synth_dir, capsys, extra, needle) -> None:
    assert _tune(synth_dir, 1.0, "bad", *extra) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_tune_is_for_the_gradient_space(nas_env, synth_dir, capsys) -> None:
    code = main(["search", "--space", "ffnet", "--target-ms", "1", "--data", str(synth_dir),
                 "--preset", "tiny", "--tune", "beta", "--no-progress"])
    assert code == 2
    assert "--tune: tunes the gradient search (rtseg)" in capsys.readouterr().err
