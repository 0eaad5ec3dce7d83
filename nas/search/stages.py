"""One training stage of a search run (pretrain, search, retrain) as a resumable `Trainer` run.

A stage that finished (its summary.json reports every iteration) is not run again on `--resume`:
its final checkpoint is loaded instead, so a search killed during fine-tuning restarts there.
A stage trained with booster heads (`nas.train.boosters.search`) ends with a checkpoint of the
searched network alone, its heads kept beside it for a resumed run.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch.nn as nn

from nas.train import TrainConfig, Trainer
from nas.train.boosters.search import load_stage_weights, strip_checkpoint
from nas.train.checkpoint import find_checkpoint, load_checkpoint
from nas.train.trainer import ExtraLoss


@dataclass
class StageData:
    """The datasets of one stage (crop/scales/seed come from its TrainConfig)."""

    train: Any
    val: Any | None
    num_classes: int


def stage_data(source: str, cfg: TrainConfig, *, with_val: bool = True) -> StageData:
    from nas.data import build_dataset
    from nas.errors import UserError

    train = build_dataset(source, "train", crop_hw=tuple(cfg.crop), augment=True,
                          scales=tuple(cfg.scales), seed=cfg.seed)
    val = None
    if with_val:
        try:
            val = build_dataset(source, "val", crop_hw=tuple(cfg.eval_crop) or None)
        except UserError as err:
            print(f"warning: no val split ({err}); skipping evaluation", file=sys.stderr)
    return StageData(train, val, int(train.num_classes))


def stage_done(folder: Path, cfg: TrainConfig) -> bool:
    path = folder / "summary.json"
    if not path.is_file():
        return False
    try:
        return int(json.loads(path.read_text()).get("iterations", -1)) == cfg.iterations
    except (json.JSONDecodeError, ValueError, TypeError):
        return False


def fit_stage(
    name: str, model: nn.Module, cfg: TrainConfig, folder: Path, data: StageData, *,
    identity: dict[str, Any], resume: bool, progress: bool, teacher: nn.Module | None = None,
    extra_loss: ExtraLoss | None = None, optimizer: Any = None,
    before_fit: Callable[[Trainer], None] | None = None,
) -> dict[str, Any]:
    """Train `model` for one stage into `folder`, or load the finished stage's weights.

    Prints the stage with its timing and where it wrote. Returns the stage summary.
    """
    if resume and stage_done(folder, cfg):
        state = load_checkpoint(folder / "checkpoints")
        load_stage_weights(model, state["model"], folder)
        strip_checkpoint(model, folder)  # a kill may have come between fit and the strip
        summary = json.loads((folder / "summary.json").read_text())
        print(f"[{name}] already done ({summary['iterations']} iterations): {folder}/", flush=True)
        return summary
    t0 = time.perf_counter()
    print(f"[{name}] {cfg.iterations} iterations, batch {cfg.batch_size}, crop "
          f"{cfg.crop[0]}x{cfg.crop[1]} -> {folder}/", flush=True)
    trainer = Trainer(model, data.train, cfg, folder, identity=identity,
                      num_classes=data.num_classes, val_set=data.val, teacher=teacher,
                      extra_loss=extra_loss, optimizer=optimizer, progress=progress,
                      run_config={"stage": name, "train": cfg.as_dict()})
    if before_fit is not None:
        before_fit(trainer)
    again = resume and (folder / "config.yaml").is_file()
    summary = trainer.fit(resume=again or (resume and find_checkpoint(folder / "checkpoints")
                                           is not None))
    strip_checkpoint(model, folder)
    miou = summary.get("miou")
    score = f", val mIoU {100 * miou:.2f}%" if isinstance(miou, float) else ""
    print(f"[{name}] done in {time.perf_counter() - t0:.1f} s{score}", flush=True)
    return summary
