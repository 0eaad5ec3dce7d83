"""Boosters inside the Optuna FFNet driver (each trial's proxy training) and the routing driver
(its training): the booster losses are computed there, the searched network never holds the
heads, and a rerun with other boosters is refused."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
import yaml

import search_spaces
from nas.cli.main import main
from nas.models.counting import count_params
from nas.train.checkpoint import load_checkpoint

HW = (64, 128)
SIZE = f"{HW[0]}x{HW[1]}"
BOOSTER_TERMS = {"detail", "boundary", "guided"}
BOOSTERS = ["--detail-guidance", "--boundary"]


@pytest.fixture(scope="module")
def ffnet_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A NAS_HOME whose `cpu` MLP predictor knows FFNet tiny blocks (analytic latencies)."""
    from latency.predictors import MLPPredictor
    from latency.predictors.synthetic import label_blocks
    from nas.paths import predictor_path
    from nas.search.optuna_space import FFNetChoices, extreme_archs, random_arch

    home = tmp_path_factory.mktemp("nas_home_ffnet_boost")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NAS_HOME", str(home))
        sp = search_spaces.get("ffnet")
        choices = FFNetChoices(width_mult=0.125, max_depth=2)
        rng = random.Random(0)
        archs = extreme_archs(choices) + [random_arch(rng, choices) for _ in range(20)]
        blocks = [b for a in archs for b in sp.blocks(a, HW)]
        rows = label_blocks(list({b.key(): b for b in blocks}.values()), device="cpu")
        MLPPredictor(device="cpu", epochs=60, seed=0).fit(rows).save(predictor_path("cpu"))
    return home


def _config(tmp: Path, space: str, section: str) -> Path:
    path = tmp / f"{space}.yaml"
    path.write_text(yaml.safe_dump({"preset": "tiny", "space": space, section: {
        "iterations": 2, "ckpt_every": 2, "log_every": 1}}))
    return path


def _train_records(path: Path) -> list[dict]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["kind"] == "train"]


def test_each_ffnet_trial_trains_with_the_boosters(ffnet_home, tmp_path, monkeypatch, synth_dir,
                                                   capsys) -> None:
    from latency.predictors import load_for_device
    from nas.search.optuna_driver import attainable
    from nas.search.optuna_space import FFNetChoices

    monkeypatch.setenv("NAS_HOME", str(ffnet_home))
    monkeypatch.chdir(tmp_path)
    _, hi = attainable(load_for_device("cpu"), FFNetChoices(width_mult=0.125, max_depth=2), HW,
                       19)
    cfg = _config(tmp_path, "ffnet", "search")
    argv = ["search", "--space", "ffnet", "--target-ms", f"{10 * hi:.4f}", "--device", "cpu",
            "--data", str(synth_dir), "--input-size", SIZE, "--config", str(cfg),
            "--width-mult", "0.125", "--max-depth", "2",
            "--name", "f", "--no-progress", "--no-measure", "--trials", "2"]
    assert main([*argv, *BOOSTERS]) == 0
    folder = tmp_path / "runs" / "f"
    trials = sorted((folder / "trials").iterdir())
    assert len(trials) == 2  # every candidate is under the target: both trained
    for trial in trials:
        recs = _train_records(trial / "metrics.jsonl")
        assert recs and all(BOOSTER_TERMS <= set(r) for r in recs)
        state = load_checkpoint(trial / "checkpoints")["model"]
        assert not any(k.startswith("booster.") for k in state)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["boosters"] == ["detail", "boundary"]
    arch = json.loads((folder / "arch.json").read_text())
    plain = search_spaces.get("ffnet").build(arch, 19)
    plain.load_state_dict(torch.load(folder / "subnet.pt", weights_only=True))  # strict
    assert summary["params"] == count_params(plain)
    # the study records its boosters: a rerun with others is refused before any trial
    capsys.readouterr()
    assert main([*argv, "--boundary"]) == 2
    err = capsys.readouterr().err
    assert "created for another search" in err and "boosters.detail" in err


def test_routing_training_uses_the_boosters(tmp_path, monkeypatch, synth_dir, capsys) -> None:
    monkeypatch.setenv("NAS_HOME", str(tmp_path / "home"))  # FLOPs budget: no predictor needed
    monkeypatch.chdir(tmp_path)
    cfg = _config(tmp_path, "routing", "train")
    argv = ["search", "--space", "routing", "--device", "cpu", "--data", str(synth_dir),
            "--input-size", SIZE, "--name", "r", "--config", str(cfg),
            "--budget", "flops", "--mu", "0.5", "--no-progress", "--no-measure"]
    assert main([*argv, *BOOSTERS]) == 0
    folder = tmp_path / "runs" / "r"
    recs = _train_records(folder / "metrics.jsonl")
    assert recs and all(BOOSTER_TERMS | {"budget"} <= set(r) for r in recs)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["boosters"] == ["detail", "boundary"]
    assert yaml.safe_load((folder / "config.yaml").read_text())["boosters"]["detail"]
    arch = json.loads((folder / "arch.json").read_text())
    weights = torch.load(folder / "subnet.pt", weights_only=True)
    plain = search_spaces.get("routing").build(arch, summary["num_classes"])
    assert set(weights) == set(plain.state_dict())
    state = load_checkpoint(folder / "search" / "checkpoints")["model"]
    assert not any(k.startswith("booster.") for k in state)
    capsys.readouterr()
    assert main([*argv, "--resume", "--boundary"]) == 2
    err = capsys.readouterr().err
    assert "cannot resume with a changed config" in err and "boosters.detail" in err


def test_routing_tap_is_the_first_eighth_cell() -> None:
    from nas.train.boosters import BoosterConfig, boost

    torch.manual_seed(0)
    net = search_spaces.get("routing").supernet(4, num_layers=4, width_mult=0.125,
                                                small_gate=True)
    boosted = boost(net, BoosterConfig(detail=True))
    assert boosted.tap == "cells.l1_s1.op"
    out = boosted.train()(torch.randn(2, 3, 64, 64))
    assert out["detail"].shape == (2, 1, 8, 8)
    assert not net._forward_hooks and not net.get_submodule(boosted.tap)._forward_hooks
