"""`nas retrain` and `nas export` on a tiny finished search (real ORT for check and timing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import search_spaces
from nas.cli.main import main

HW = (64, 128)


@pytest.fixture(scope="module")
def searched_once(predictor_home, synth_dir, tmp_path_factory) -> Path:
    """One tiny search shared by the module (searching is the slow part)."""
    from latency.predictors import load_for_device
    from nas.search.latency_loss import attainable_range

    work = tmp_path_factory.mktemp("work")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NAS_HOME", str(predictor_home))
        mp.chdir(work)
        lo, hi = attainable_range("rtseg", {"preset": "tiny"}, load_for_device("cpu"), HW, 19)
        assert main(["search", "--space", "rtseg", "--target-ms", str((lo + hi) / 2),
                     "--device", "cpu", "--data", str(synth_dir), "--input-size", "64x128",
                     "--name", "s", "--preset", "tiny", "--no-progress", "--no-measure"]) == 0
    return work / "runs" / "s"


@pytest.fixture
def searched(searched_once: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             predictor_home: Path) -> Path:
    """A private copy of the finished search, the working directory above its runs/."""
    import shutil

    monkeypatch.setenv("NAS_HOME", str(predictor_home))
    monkeypatch.chdir(tmp_path)
    return Path(shutil.copytree(searched_once, tmp_path / "runs" / "s"))


def test_export_without_retrain_uses_inherited_weights(searched: Path, capsys) -> None:
    assert main(["export", str(searched), "--no-measure"]) == 0
    assert "subnet.pt" in capsys.readouterr().out


def test_retrain_then_export_checks_and_measures(searched: Path, capsys) -> None:
    assert main(["retrain", str(searched), "--no-progress"]) == 0
    summary = json.loads((searched / "summary.json").read_text())
    assert summary["retrained"] is True and summary["retrain_iterations"] == 4
    assert (searched / "retrain" / "checkpoints" / "last.pt").is_file()
    stages = {json.loads(line)["stage"] for line in (searched / "metrics.jsonl").open()}
    assert "retrain" in stages
    capsys.readouterr()

    # a name under runs/ works too
    assert main(["export", "s", "--format", "onnx", "--with-supernet"]) == 0
    out = capsys.readouterr().out
    assert "ORT vs PyTorch max abs diff" in out and "measured" in out and "predicted" in out
    assert "supernet measured alongside" in out
    summary = json.loads((searched / "summary.json").read_text())
    assert summary["export"]["ok"] and summary["export"]["max_abs_diff"]["onnx"] <= 1e-4
    assert summary["measured_ms"] > 0 and summary["supernet_measured_ms"] > 0
    onnx_path = Path(summary["export"]["files"]["onnx"])
    assert onnx_path.is_file()

    # the exported graph is the retrained subnet: same output as the checkpoint's weights
    from nas.export.onnx import ort_session
    from nas.train.checkpoint import load_checkpoint

    arch = json.loads((searched / "arch.json").read_text())
    net = search_spaces.get("rtseg").build(arch, 19)
    net.load_state_dict(load_checkpoint(searched / "retrain" / "checkpoints")["model"])
    x = torch.randn(1, 3, *HW)
    ort_out = ort_session(onnx_path).run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        assert abs(ort_out - net.eval()(x).numpy()).max() <= 1e-4


def test_retrain_and_export_refuse_non_runs(nas_env, capsys) -> None:
    assert main(["retrain", "nope"]) == 2
    assert "not a search run folder" in capsys.readouterr().err
    assert main(["export", "nope"]) == 2
    assert "not a search run folder" in capsys.readouterr().err
    assert main(["export", "nope", "--host-wait", "-5"]) == 2
    assert "--host-wait: expected seconds >= 0, got -5.0" in capsys.readouterr().err


def test_export_rejects_unknown_format(searched: Path, capsys) -> None:
    assert main(["export", str(searched), "--format", "coreml"]) == 2
    assert "expected one of onnx, tflite" in capsys.readouterr().err
