"""`nas retrain` and `nas export` on a finished FFNet Optuna study (tiny preset, real ORT)."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
import torch

import search_spaces
from nas.cli.main import main

HW = (64, 128)


@pytest.fixture(scope="module")
def ffnet_study(synth_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(NAS_HOME with a `cpu` predictor of FFNet tiny blocks, a finished 2-trial study).

    The target is above every candidate's prediction, so each trial is trained and the best
    one has weights.
    """
    from latency.predictors import MLPPredictor, load_for_device
    from latency.predictors.synthetic import label_blocks
    from nas.paths import predictor_path
    from nas.search.optuna_driver import attainable
    from nas.search.optuna_space import FFNetChoices, extreme_archs, random_arch

    home, work = tmp_path_factory.mktemp("nas_home_ffnet_rx"), tmp_path_factory.mktemp("work")
    choices = FFNetChoices(width_mult=0.125, max_depth=2)
    with pytest.MonkeyPatch.context() as mp:  # module scope: no monkeypatch fixture
        mp.setenv("NAS_HOME", str(home))
        mp.chdir(work)
        sp, rng = search_spaces.get("ffnet"), random.Random(0)
        archs = extreme_archs(choices) + [random_arch(rng, choices) for _ in range(40)]
        blocks = {b.key(): b for a in archs for b in sp.blocks(a, HW)}
        rows = label_blocks(list(blocks.values()), device="cpu")
        MLPPredictor(device="cpu", epochs=30, seed=0).fit(rows).save(predictor_path("cpu"))
        _lo, hi = attainable(load_for_device("cpu"), choices, HW, 19)
        assert main(["search", "--space", "ffnet", "--target-ms", f"{2 * hi:.6f}", "--device",
                     "cpu", "--data", str(synth_dir), "--input-size", "64x128", "--preset",
                     "tiny", "--name", "ff", "--trials", "2", "--no-progress",
                     "--no-measure"]) == 0
    return home, work / "runs" / "ff"


@pytest.fixture
def run(ffnet_study: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the finished study, the working directory above its runs/."""
    home, folder = ffnet_study
    monkeypatch.setenv("NAS_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return Path(shutil.copytree(folder, tmp_path / "runs" / "ff"))


def test_retrain_then_export_checks_and_measures(run: Path, capsys) -> None:
    before = json.loads((run / "summary.json").read_text())
    assert main(["retrain", str(run), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "no supernet" in out and f"nas export {run}" in out
    summary = json.loads((run / "summary.json").read_text())
    assert summary["retrained"] is True and summary["retrain_iterations"] == 4  # tiny preset
    assert summary["miou_before_retrain"] == before["miou"]
    assert (run / "retrain" / "checkpoints" / "last.pt").is_file()

    assert main(["export", "ff", "--format", "onnx"]) == 0  # a name under runs/ works too
    out = capsys.readouterr().out
    assert "retrain" in out and "ORT vs PyTorch max abs diff" in out and "predicted" in out
    summary = json.loads((run / "summary.json").read_text())
    exported = summary["export"]
    assert exported["ok"] and exported["max_abs_diff"]["onnx"] <= exported["bound"]
    assert summary["export"]["predicted_ms"] == summary["predicted_ms"]
    assert summary["measured_ms"] > 0

    # the exported graph is the retrained network, not the proxy-trained one
    from nas.export.onnx import ort_session
    from nas.train.checkpoint import load_checkpoint

    net = search_spaces.get("ffnet").build(json.loads((run / "arch.json").read_text()), 19)
    net.load_state_dict(load_checkpoint(run / "retrain" / "checkpoints")["model"])
    x = torch.randn(1, 3, *HW)
    ort_out = ort_session(summary["export"]["files"]["onnx"]).run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        assert abs(ort_out - net.eval()(x).numpy()).max() <= exported["bound"]


def test_export_without_retrain_uses_the_best_trials_weights(run: Path, capsys) -> None:
    assert main(["export", str(run), "--no-measure"]) == 0
    assert "subnet.pt" in capsys.readouterr().out
    assert json.loads((run / "summary.json").read_text())["export"]["ok"]


def _one_line_error(args: list[str], capsys) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    return err


def test_unsupported_requests_fail_in_one_line(run: Path, capsys) -> None:
    err = _one_line_error(["export", str(run), "--with-supernet", "--no-measure"], capsys)
    assert "--with-supernet" in err and "no supernet" in err
    err = _one_line_error(["retrain", str(run), "--boundary", "--no-progress"], capsys)
    assert "gradient search runs" in err

    (run / "subnet.pt").unlink()  # best trial trained by another worker: no weights here
    err = _one_line_error(["export", str(run), "--no-measure"], capsys)
    assert f"nas retrain {run}" in err

    summary = json.loads((run / "summary.json").read_text())
    del summary["retrain_config"]  # a study finished before retrain took Optuna runs
    (run / "summary.json").write_text(json.dumps(summary))
    err = _one_line_error(["retrain", str(run), "--no-progress"], capsys)
    assert "retrain_config" in err and "nas search" in err


def test_a_tune_run_points_at_its_best_trial(run: Path, capsys) -> None:
    """A `--tune` run's network is its best trial's, a gradient search: say where it is."""
    import yaml

    config = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**config, "driver": "optuna-tune"}))
    summary = json.loads((run / "summary.json").read_text())
    for cmd in (["retrain", str(run)], ["export", str(run)]):
        err = _one_line_error(cmd, capsys)
        assert f"{run}/trials/{summary['best_trial']:04d}" in err
