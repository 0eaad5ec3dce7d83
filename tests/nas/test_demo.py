"""`nas demo` end to end on a fresh NAS_HOME: real ORT profiling, search, retrain, export."""

from __future__ import annotations

import json

import pytest

from nas.cli.main import main


@pytest.mark.slow
def test_demo_from_scratch(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("NAS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--preset", "tiny", "--input-size", "64x128", "--name", "d",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    for stage in ("== data:", "== latency predictor:", "== search", "== retrain:",
                  "== export + measure:", "== summary =="):
        assert stage in out
    assert "has no latency predictor yet: profiling it now" in out
    assert (tmp_path / "home" / "predictors" / "cpu.pt").is_file()
    summary = json.loads((tmp_path / "runs" / "d" / "summary.json").read_text())
    assert summary["retrained"] and summary["export"]["ok"]
    assert summary["measured_ms"] > 0 and summary["predicted_ms"] > 0
    assert summary["supernet_predicted_ms"] >= summary["predicted_ms"] * 0.999
    assert (tmp_path / "runs" / "d" / "plots" / "summary.png").stat().st_size > 0
    # a second demo reuses the predictor instead of profiling again
    assert main(["demo", "--preset", "tiny", "--input-size", "64x128", "--name", "d2",
                 "--no-progress"]) == 0
    assert "profiling it now" not in capsys.readouterr().out


def test_demo_rejects_a_bad_target_fraction(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--target-frac", "1.5"]) == 2
    assert "--target-frac" in capsys.readouterr().err
