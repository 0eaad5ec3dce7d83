"""`nas search` end to end at test size: outputs, target direction, resume, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import search_spaces
from nas.cli.main import main
from nas.search import drivers, get_driver

HW = (64, 128)  # the deployment input size the conftest predictor was fitted at

SIZE = f"{HW[0]}x{HW[1]}"


def _search(data: Path, target: float, name: str, *extra: str) -> int:
    return main(["search", "--space", "rtseg", "--target-ms", str(target), "--device", "cpu",
                 "--data", str(data), "--input-size", SIZE, "--name", name, "--no-progress",
                 "--no-measure", *extra])


def _range(capsys) -> tuple[float, float]:
    from latency.predictors import load_for_device
    from nas.search.latency_loss import attainable_range

    return attainable_range("rtseg", {"preset": "tiny"}, load_for_device("cpu"), HW, 19)


def _fast_config(tmp: Path, search_iters: int = 8, **top) -> Path:
    path = tmp / f"cfg-{search_iters}.yaml"
    path.write_text(yaml.safe_dump({"preset": "tiny", **top,
                                    "search": {"iterations": search_iters, "ckpt_every": 100}}))
    return path


def test_tiny_search_writes_a_valid_arch_and_summary(nas_env, synth_dir, capsys) -> None:
    lo, hi = _range(capsys)
    assert _search(synth_dir, (lo + hi) / 2, "run", "--preset", "tiny") == 0
    out = capsys.readouterr().out
    assert "attainable latency" in out and "runs/run/" in out
    folder = nas_env / "runs" / "run"
    arch = json.loads((folder / "arch.json").read_text())
    search_spaces.get("rtseg").validate(arch)
    summary = json.loads((folder / "summary.json").read_text())
    for key in ("target_ms", "predicted_ms", "measured_ms", "miou", "params", "macs"):
        assert key in summary
    assert summary["target_ms"] == pytest.approx((lo + hi) / 2)
    assert lo * 0.999 <= summary["predicted_ms"] <= hi * 1.001
    assert summary["params"] > 0 and summary["macs"] > 0
    stages = {json.loads(line)["stage"] for line in (folder / "metrics.jsonl").open()}
    assert stages == {"pretrain", "search"}
    assert (folder / "plots" / "summary.png").stat().st_size > 0
    assert (folder / "search" / "checkpoints" / "last.pt").is_file()
    assert (folder / "config.yaml").is_file()


def test_low_target_gives_a_faster_arch_than_high_target(nas_env, synth_dir, capsys) -> None:
    lo, hi = _range(capsys)
    cfg = _fast_config(nas_env, search_iters=20, arch_lr=0.1)
    assert _search(synth_dir, lo, "low", "--config", str(cfg)) == 0
    assert _search(synth_dir, hi, "high", "--config", str(cfg)) == 0
    low = json.loads((nas_env / "runs" / "low" / "summary.json").read_text())
    high = json.loads((nas_env / "runs" / "high" / "summary.json").read_text())
    assert low["predicted_ms"] < high["predicted_ms"]


def test_infeasible_target_is_refused_before_training(nas_env, synth_dir, capsys) -> None:
    assert _search(synth_dir, 1e4, "bad", "--preset", "tiny") == 2
    err = capsys.readouterr().err
    assert err.startswith("nas: error: --target-ms 10000 is infeasible")
    assert "attainable range" in err and len(err.strip().splitlines()) == 1
    assert not (nas_env / "runs" / "bad").exists()


def test_resume_with_changed_config_lists_the_keys(nas_env, synth_dir, capsys) -> None:
    lo, hi = _range(capsys)
    mid = round((lo + hi) / 2, 4)
    assert _search(synth_dir, mid, "r", "--preset", "tiny") == 0
    assert _search(synth_dir, mid, "r", "--preset", "tiny") == 2  # exists: needs --resume
    assert "--resume" in capsys.readouterr().err
    assert _search(synth_dir, hi, "r", "--preset", "tiny", "--resume", "--beta", "0.5") == 2
    err = capsys.readouterr().err
    assert "cannot resume with a changed config" in err
    assert "target_ms" in err and "config.beta" in err
    # the same config resumes; finished stages are not trained again
    assert _search(synth_dir, mid, "r", "--preset", "tiny", "--resume") == 0
    assert "already done" in capsys.readouterr().out


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(nas_env, synth_dir, capsys) -> None:
    lo, hi = _range(capsys)
    cfg = nas_env / "nan.yaml"
    cfg.write_text(yaml.safe_dump({"preset": "tiny", "pretrain": {"lr": 1e30, "ckpt_every": 1}}))
    assert _search(synth_dir, (lo + hi) / 2, "nan", "--config", str(cfg)) == 2
    err = capsys.readouterr().err
    assert "loss became" in err and "kept the last good checkpoint" in err


def test_space_names_are_checked(nas_env, capsys) -> None:
    assert main(["search", "--space", "rtsge", "--target-ms", "1"]) == 2
    assert "did you mean: rtseg" in capsys.readouterr().err
    # every registered space has a search driver
    assert set(search_spaces.names()) <= set(drivers())
    for space in search_spaces.names():
        assert callable(get_driver(space))


def test_missing_predictor_offers_auto_profile(tmp_path, monkeypatch, synth_dir, capsys) -> None:
    monkeypatch.setenv("NAS_HOME", str(tmp_path / "empty"))
    monkeypatch.chdir(tmp_path)
    assert _search(synth_dir, 1.0, "x", "--preset", "tiny") == 2
    err = capsys.readouterr().err
    assert "no latency predictor yet" in err and "--auto-profile" in err
