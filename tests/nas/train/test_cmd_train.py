"""`nas train` / `nas eval` end to end on a tiny plain-layout dataset and a tiny registered model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from train_helpers import TinySegNet

from nas.cli.main import main
from nas.models.registry import register_model

MODEL = "tiny-train-cli"
OTHER = "tiny-train-cli-other"
register_model(MODEL, factory=TinySegNet, family="test", description="trainer CLI test")
register_model(OTHER, factory=TinySegNet, family="test", description="trainer CLI test")


def _plain_dataset(root: Path) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir()
    (root / "classes.yaml").write_text("[road, car, sky]\n")
    for split, n in (("train", 6), ("val", 2)):
        (root / "images" / split).mkdir(parents=True)
        (root / "masks" / split).mkdir(parents=True)
        for i in range(n):
            mask = rng.integers(0, 3, (4, 4)).repeat(8, 0).repeat(8, 1).astype(np.uint8)
            image = np.stack([(mask == c) * 200 for c in range(3)], -1).astype(np.uint8)
            Image.fromarray(image).save(root / "images" / split / f"{i}.png")
            Image.fromarray(mask).save(root / "masks" / split / f"{i}.png")
    return root


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    _plain_dataset(tmp_path / "data")
    return tmp_path


TRAIN = ["train", "--model", MODEL, "--data", "data", "--iters", "4", "--batch-size", "2",
         "--crop", "16x16", "--ckpt-every", "2", "--log-every", "2", "--no-progress"]


def test_train_then_eval(workdir, capsys) -> None:
    assert main([*TRAIN, "--name", "r1"]) == 0
    out = capsys.readouterr().out
    assert "writing to runs/r1/" in out and "wrote runs/r1/" in out
    summary = json.loads((workdir / "runs/r1/summary.json").read_text())
    assert summary["iterations"] == 4 and set(summary["iou"]) == {"road", "car", "sky"}

    assert main(["eval", "--run", "runs/r1"]) == 0
    out = capsys.readouterr().out
    assert "mIoU" in out and "wrote runs/r1/eval-val.json" in out
    again = json.loads((workdir / "runs/r1/eval-val.json").read_text())
    assert again["miou"] == summary["miou"]  # the same weights score the same

    weights = "runs/r1/checkpoints/last.pt"
    args = ["eval", "--model", MODEL, "--weights", weights, "--data", "data", "--name", "e1"]
    assert main(args) == 0
    assert json.loads((workdir / "runs/e1/summary.json").read_text())["miou"] == summary["miou"]


def test_resume_finished_run_is_a_noop_and_changed_flags_are_refused(workdir, capsys) -> None:
    assert main([*TRAIN, "--name", "r2"]) == 0
    assert main(["train", "--resume", "runs/r2", "--no-progress"]) == 0
    assert "resuming" in capsys.readouterr().out
    assert main(["train", "--resume", "runs/r2", "--lr", "0.5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "train.lr" in err


def test_resume_with_another_model_fails_with_one_line(workdir, capsys) -> None:
    assert main([*TRAIN, "--name", "r3"]) == 0
    capsys.readouterr()
    assert main(["train", "--model", OTHER, "--resume", "runs/r3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nas: error: runs/r3: is a run of model") and "\n" not in err
    assert f"'{MODEL}'" in err and f"'{OTHER}'" in err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--config", "bad.yaml"], "bad.yaml: unknown key 'learning_rate'"),
        (["--crop", "16by16"], "--crop"),
    ],
)
def test_bad_input_fails_with_one_line(workdir, capsys, args, needle) -> None:
    (workdir / "bad.yaml").write_text("learning_rate: 0.1\n")
    assert main([*TRAIN, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err


def test_unknown_model_lists_close_matches(workdir, capsys) -> None:
    assert main(["train", "--model", "tiny-train-clj", "--data", "data"]) == 2
    assert "did you mean" in capsys.readouterr().err
