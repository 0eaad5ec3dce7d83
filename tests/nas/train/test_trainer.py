"""The Trainer on a tiny model: it learns, stops on NaN, refuses the wrong resume, resumes exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from train_helpers import TinySegData, TinySegNet

from nas.errors import UserError
from nas.train.config import TrainConfig
from nas.train.trainer import NonFiniteLoss, Trainer, seed_everything

DRIVER = Path(__file__).with_name("train_driver.py")
IDENT = {"model": "tiny", "num_classes": 3}


def _trainer(run_dir: Path, iters: int, **kw) -> Trainer:
    cfg = TrainConfig(
        iterations=iters, batch_size=4, lr=0.05, warmup_iters=2, ckpt_every=5, log_every=5,
        seed=0, **kw,
    )
    seed_everything(cfg.seed)
    return Trainer(
        TinySegNet(), TinySegData(n=16), cfg, run_dir, identity=IDENT,
        val_set=TinySegData(n=4, seed=7, augment=False), progress=False,
    )


def _records(run_dir: Path, kind: str) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def test_loss_decreases_and_run_folder_is_complete(tmp_path) -> None:
    run = tmp_path / "run"
    summary = _trainer(run, 40).fit()
    train = _records(run, "train")
    assert [r["iter"] for r in train] == list(range(5, 41, 5))
    assert train[-1]["loss"] < 0.8 * train[0]["loss"]
    assert {"ce", "aux", "lr", "it_s"} <= set(train[0])
    evals = _records(run, "eval")
    assert len(evals) == 1 and evals[0]["iter"] == 40
    saved = json.loads((run / "summary.json").read_text())
    assert saved["iterations"] == 40 and saved["miou"] == summary["miou"]
    assert set(saved["iou"]) == {"road", "car", "sky"} and saved["miou"] > 0.34
    assert (run / "config.yaml").is_file() and (run / "checkpoints" / "last.pt").is_file()
    # a second fresh run into the same folder is refused instead of overwriting it
    with pytest.raises(UserError, match="--resume"):
        _trainer(run, 40).fit()


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path) -> None:
    run = tmp_path / "run"
    trainer = _trainer(run, 20)

    def poison(ctx):  # becomes NaN after the first checkpoint (iteration 5)
        bad = ctx.iteration >= 7
        return {"poison": ctx.logits.sum() * (float("nan") if bad else 0.0)}

    trainer.extra_loss = poison
    with pytest.raises(NonFiniteLoss) as err:
        trainer.fit()
    msg = str(err.value)
    assert "iteration 7" in msg and "last.pt" in msg and "\n" not in msg
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["iteration"] == 5
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    assert _records(run, "stopped")[0]["iter"] == 7


def test_resume_of_another_model_or_config_fails_with_one_line(tmp_path) -> None:
    run = tmp_path / "run"
    _trainer(run, 5).fit()
    other = _trainer(run, 5)
    other.identity = {"model": "bisenetv2", "num_classes": 3}
    other.run_config = {**other.run_config, **other.identity}
    with pytest.raises(UserError) as err:
        other.fit(resume=True)
    assert "model 'tiny'" in str(err.value) and "'bisenetv2'" in str(err.value)
    changed = _trainer(run, 5, ohem=True)
    with pytest.raises(UserError, match=r"train\.ohem"):
        changed.fit(resume=True)


def test_distillation_and_ohem_terms_are_trained(tmp_path) -> None:
    seed_everything(5)
    teacher = TinySegNet()
    cfg = TrainConfig(iterations=3, batch_size=4, kd_lambda=0.5, kd_temperature=2.0, ohem=True,
                      ohem_min_kept=64, log_every=1, ckpt_every=3)
    trainer = Trainer(TinySegNet(), TinySegData(n=8), cfg, tmp_path / "kd", identity=IDENT,
                      teacher=teacher, progress=False)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    trainer.fit()
    train = _records(tmp_path / "kd", "train")
    assert all(r["kd"] > 0 and r["ce"] > 0 for r in train)
    assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in before.items())  # frozen


def _run_driver(run: Path, iters: int, *extra: str, env: dict | None = None) -> int:
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    proc = subprocess.run(
        [sys.executable, str(DRIVER), str(run), str(iters), *extra],
        env=full_env, capture_output=True, text=True, timeout=120,
    )
    if proc.returncode not in (0, -9):
        raise AssertionError(proc.stderr[-2000:])
    return proc.returncode


def test_resume_after_kill_is_bit_exact(tmp_path) -> None:
    """Kill before the first checkpoint, after step 5 (last ckpt: 4, mid-epoch), then during the
    write of checkpoint 10; each time resume. The result equals an uninterrupted run exactly."""
    ref, run = tmp_path / "ref", tmp_path / "killed"
    # the uninterrupted reference runs in this process (one thread, as the driver): one
    # subprocess fewer, and it shows that the subprocess path is the same code path
    sys.path.insert(0, str(DRIVER.parent))
    import train_driver

    argv = sys.argv
    try:
        sys.argv = [str(DRIVER), str(ref), "12"]
        assert train_driver.main() == 0
    finally:
        sys.argv = argv
    assert _run_driver(run, 12, env={"NAS_FAULT_KILL_AT_ITER": "1"}) == -9
    assert not (run / "checkpoints/last.pt").exists()
    assert _run_driver(run, 12, "--resume", env={"NAS_FAULT_KILL_AT_ITER": "5"}) == -9
    assert torch.load(run / "checkpoints/last.pt", weights_only=True)["iteration"] == 4
    code = _run_driver(run, 12, "--resume", env={"NAS_FAULT_KILL_IN_CKPT_AT": "10"})
    assert code == -9
    assert list((run / "checkpoints").glob(".last.pt.*.tmp"))  # the half-written file is there
    assert torch.load(run / "checkpoints/last.pt", weights_only=True)["iteration"] == 8
    assert _run_driver(run, 12, "--resume") == 0
    assert not list((run / "checkpoints").glob(".*.tmp"))

    a = torch.load(ref / "checkpoints/last.pt", weights_only=True)
    b = torch.load(run / "checkpoints/last.pt", weights_only=True)
    assert a["iteration"] == b["iteration"] == 12
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(),
                      strict=True):
        assert torch.equal(sa["momentum_buffer"], sb["momentum_buffer"])
    # the metrics log reads as one run: every iteration once, the same losses
    losses = {r["iter"]: r["loss"] for r in _records(ref, "train")}
    resumed = _records(run, "train")
    assert [r["iter"] for r in resumed] == list(range(1, 13))
    assert {r["iter"]: r["loss"] for r in resumed} == losses
    assert json.loads((run / "summary.json").read_text())["miou"] == json.loads(
        (ref / "summary.json").read_text()
    )["miou"]
