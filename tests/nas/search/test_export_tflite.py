"""`nas export --format tflite`: LiteRT conversion checked against PyTorch (needs the extra)."""

from __future__ import annotations

import json

import pytest

from nas.cli.main import main

HW = (64, 128)


@pytest.mark.slow
def test_tflite_export_matches_pytorch(nas_env, synth_dir, capsys) -> None:
    pytest.importorskip("litert_torch")
    pytest.importorskip("ai_edge_litert")
    from latency.predictors import load_for_device
    from nas.search.latency_loss import attainable_range

    lo, hi = attainable_range("rtseg", {"preset": "tiny"}, load_for_device("cpu"), HW, 19)
    assert main(["search", "--space", "rtseg", "--target-ms", str((lo + hi) / 2), "--device",
                 "cpu", "--data", str(synth_dir), "--input-size", "64x128", "--name", "t",
                 "--preset", "tiny", "--no-progress", "--no-measure"]) == 0
    run = nas_env / "runs" / "t"
    assert main(["export", str(run), "--format", "onnx", "--format", "tflite",
                 "--no-measure"]) == 0
    assert "LiteRT vs PyTorch max abs diff" in capsys.readouterr().out
    summary = json.loads((run / "summary.json").read_text())
    assert summary["export"]["max_abs_diff"]["tflite"] <= 1e-4
    assert (run / "export" / "model.tflite").stat().st_size > 0
