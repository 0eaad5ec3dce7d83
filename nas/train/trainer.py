"""The training loop every driver shares: `nas train`, `nas retrain` and the search drivers.

Iteration-based (the LR and the data order are functions of the step, not of an epoch loop), so
that `resume` continues at the exact batch: on CPU with the same seed a run killed at any moment
and resumed reproduces the uninterrupted run bit for bit. What makes that hold:
- the sampler order is a pure function of (seed, epoch) and the dataset is told `set_epoch`;
  datasets must draw their augmentation from (seed, epoch, index), not from a global RNG;
- the LR is a pure function of the iteration (`PolyWarmupLR`);
- the checkpoint holds model, optimiser, iteration and every RNG state of every rank;
- DataLoaders get their own generator, so they never advance the global torch RNG.

Drivers add loss terms with `extra_loss(ctx) -> {name: tensor}` (the search adds its latency
term there) and pass a `teacher` for the pixel-wise distillation of RTSeg eq. 10-12.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset

from nas.errors import UserError
from nas.io import atomic_write_json, atomic_write_text
from nas.runs import check_same_config, load_config, save_config, truncate_jsonl
from nas.train import checkpoint as ckpt
from nas.train.config import RESUMABLE_KEYS, TrainConfig
from nas.train.distributed import (
    DistInfo,
    EpochSampler,
    all_gather_object,
    barrier,
    steps_per_epoch,
)
from nas.train.evaluate import evaluate, scores, split_batch, split_outputs
from nas.train.losses import aux_loss, cross_entropy, kd_loss, ohem_cross_entropy
from nas.train.schedule import PolyWarmupLR

# Fault injection for the resume tests: SIGKILL this process right after this iteration's step.
KILL_AT_ITER_ENV = "NAS_FAULT_KILL_AT_ITER"


class NonFiniteLoss(UserError):
    """Training stopped because the loss became NaN or infinite; the last good checkpoint stays."""


@dataclass
class LossContext:
    """What an extra loss term may look at for one step.

    Args:
        model: the (possibly DDP-wrapped) model being trained.
        images: the batch, on the device.
        labels: (N, H, W) labels, 255 where unlabelled.
        logits: main output of the model.
        aux: auxiliary-head outputs (empty when the model has none).
        iteration: index of this step (0-based).
    """

    model: nn.Module
    images: torch.Tensor
    labels: torch.Tensor
    logits: torch.Tensor
    aux: list[torch.Tensor]
    iteration: int


ExtraLoss = Callable[[LossContext], dict[str, torch.Tensor]]


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch: call before building the model so weights are reproducible."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.SGD:
    """SGD with momentum; no weight decay on norm weights and biases (1-D parameters)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.SGD(
        [g for g in groups if g["params"]], lr=cfg.lr, momentum=cfg.momentum
    )


class Trainer:
    """Trains `model` on `train_set` into `run_dir`; see the module docstring for guarantees.

    Args:
        model: the network (built and seeded by the caller, on CPU).
        train_set: a dataset of (image [3,H,W], label [H,W]) with optional `set_epoch(epoch)`.
        cfg: hyper-parameters.
        run_dir: `runs/<name>/`; config.yaml, metrics.jsonl, checkpoints/ and summary.json go here.
        identity: what the model is (e.g. {"model": "bisenetv2", "num_classes": 19}); a resume
            with a different identity is refused.
        num_classes: classes of the labels (defaults to `train_set.num_classes`).
        val_set: evaluated every `cfg.eval_every` steps and at the end (skipped when None).
        teacher: frozen network for pixel-wise distillation (weight `cfg.kd_lambda`).
        extra_loss: hook adding named loss terms to each step.
        run_config: the whole config saved as config.yaml (defaults to identity + train config).
        optimizer: overrides the default SGD (e.g. to add architecture parameters).
        info: DDP placement (single process when None).
        progress: show the tqdm progress bar (rank 0 only).
    """

    def __init__(
        self,
        model: nn.Module,
        train_set: Dataset,
        cfg: TrainConfig,
        run_dir: str | Path,
        *,
        identity: dict[str, Any],
        num_classes: int | None = None,
        val_set: Dataset | None = None,
        teacher: nn.Module | None = None,
        extra_loss: ExtraLoss | None = None,
        run_config: dict[str, Any] | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        info: DistInfo | None = None,
        progress: bool = True,
    ) -> None:
        if len(train_set) == 0:  # type: ignore[arg-type]
            raise UserError(f"{run_dir}: the training set is empty; nothing to train on")
        self.cfg = cfg
        self.info = info or DistInfo(device=cfg.device)
        self.run_dir = Path(run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.metrics_path = self.run_dir / "metrics.jsonl"
        self.identity = dict(identity)
        self.num_classes = int(num_classes or train_set.num_classes)  # type: ignore[attr-defined]
        self.class_names = getattr(val_set or train_set, "class_names", None)
        self.train_set, self.val_set = train_set, val_set
        # the identity is always part of the saved config, so a resume can check it even when
        # the run was killed before its first checkpoint
        self.run_config = {**(run_config or {"train": cfg.as_dict()}), **self.identity}
        self.model = model.to(self.info.device)
        self.optimizer = optimizer or build_optimizer(self.model, cfg)
        self.teacher = teacher.to(self.info.device).eval() if teacher is not None else None
        self.extra_loss = extra_loss
        self.progress = progress
        self.schedule = PolyWarmupLR(
            cfg.lr, cfg.iterations, cfg.poly_power, cfg.warmup_iters, cfg.warmup_ratio
        )
        self.iteration = 0
        self.elapsed = 0.0
        self.last_good: str | None = None
        if self.info.enabled:
            device_ids = [self.info.local_rank] if self.info.device.startswith("cuda") else None
            self.ddp_model: nn.Module = nn.parallel.DistributedDataParallel(
                self.model, device_ids=device_ids
            )
        else:
            self.ddp_model = self.model

    # ----- losses -------------------------------------------------------------------------
    def criterion(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.cfg.ohem:
            return ohem_cross_entropy(
                logits, labels, thresh=self.cfg.ohem_thresh, min_kept=self.cfg.ohem_min_kept
            )
        return cross_entropy(logits, labels)

    def loss_terms(
        self, images: torch.Tensor, labels: torch.Tensor, iteration: int
    ) -> dict[str, torch.Tensor]:
        """Named, already-weighted loss terms of one step (RTSeg eq. 12 without the latency)."""
        logits, aux = split_outputs(self.ddp_model(images))
        terms = {"ce": self.criterion(logits, labels)}
        if aux and self.cfg.aux_weight > 0:
            terms["aux"] = self.cfg.aux_weight * aux_loss(aux, labels, self.criterion)
        if self.teacher is not None and self.cfg.kd_lambda > 0:
            with torch.no_grad():
                t_logits, _ = split_outputs(self.teacher(images))
            # RTSeg: the teacher supervises the main output and every auxiliary head
            kd = sum(
                kd_loss(s, t_logits, temperature=self.cfg.kd_temperature, target=labels)
                for s in [logits, *aux]
            )
            terms["kd"] = self.cfg.kd_lambda * kd  # type: ignore[operator]
        if self.extra_loss is not None:
            ctx = LossContext(self.ddp_model, images, labels, logits, aux, iteration)
            terms.update(self.extra_loss(ctx))
        return terms

    # ----- run folder ---------------------------------------------------------------------
    def _prepare(self, resume: bool) -> None:
        if resume:
            self._load_for_resume()
            return
        if ckpt.find_checkpoint(self.ckpt_dir) is not None:
            raise UserError(
                f"{self.run_dir}: already holds a run; continue it with --resume {self.run_dir}"
                " or choose another --name"
            )
        # same seed on every rank would give every rank the same dropout masks
        seed_rank = self.cfg.seed + 1000 * self.info.rank
        random.seed(seed_rank)
        np.random.seed(seed_rank % 2**32)
        torch.manual_seed(seed_rank)
        if self.info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(self.run_dir, self.run_config)
            atomic_write_text(self.metrics_path, "")
        barrier()

    def _load_for_resume(self) -> None:
        saved = load_config(self.run_dir)
        check_identity(self.run_dir, saved, self.identity)
        check_same_config(self.run_dir, saved, self.run_config, allowed=RESUMABLE_KEYS)
        if ckpt.find_checkpoint(self.ckpt_dir) is None:
            # killed before the first checkpoint: nothing was lost but the first steps; the
            # caller seeded the model the same way, so starting over reproduces the run
            print(f"{self.run_dir}: no checkpoint yet; starting the run over", file=sys.stderr)
            self._prepare(resume=False)
            return
        state = ckpt.load_checkpoint(self.ckpt_dir)
        check_identity(self.run_dir, state["identity"], self.identity)
        world = state.get("world_size", 1)
        if world != self.info.world_size:
            raise UserError(
                f"{self.run_dir}: was trained with {world} process(es); resume it with the same"
                f" number (now {self.info.world_size}) to keep the data order"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.iteration = int(state["iteration"])
        self.elapsed = float(state.get("elapsed_s", 0.0))
        self.last_good = state["path"]
        ckpt.set_rng_state(state["rng"][self.info.rank])
        if self.info.is_main:
            save_config(self.run_dir, self.run_config)
            self._truncate_metrics(self.iteration)
        barrier()

    def _truncate_metrics(self, iteration: int) -> None:
        """Drop metric lines written after the checkpoint (and a half-written last line)."""
        truncate_jsonl(self.metrics_path, iteration, drop_kinds=("summary",))

    def _log(self, record: dict[str, Any]) -> None:
        if self.info.is_main:
            with open(self.metrics_path, "a") as f:
                f.write(json.dumps(record) + "\n")

    def _save(self) -> None:
        rng = all_gather_object(ckpt.rng_state(), self.info)
        if self.info.is_main:
            path = ckpt.save_checkpoint(
                self.ckpt_dir,
                {
                    "model": self.model.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "iteration": self.iteration,
                    "elapsed_s": self.elapsed,
                    "rng": rng,
                    "world_size": self.info.world_size,
                    "config": self.run_config,
                    "identity": self.identity,
                },
            )
            self.last_good = str(path)
        barrier()

    # ----- loop ---------------------------------------------------------------------------
    def _loader(self, epoch: int, start: int) -> DataLoader:
        if hasattr(self.train_set, "set_epoch"):
            self.train_set.set_epoch(epoch)
        sampler = EpochSampler(
            len(self.train_set),  # type: ignore[arg-type]
            batch_size=self.cfg.batch_size,
            seed=self.cfg.seed,
            epoch=epoch,
            rank=self.info.rank,
            world_size=self.info.world_size,
            start=start,
        )
        return DataLoader(
            self.train_set,
            batch_size=self.cfg.batch_size,
            sampler=sampler,
            num_workers=self.cfg.num_workers,
            drop_last=False,
            pin_memory=self.info.device.startswith("cuda"),
            generator=torch.Generator().manual_seed(self.cfg.seed * 7919 + epoch),
        )

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train to `cfg.iterations` (continuing the saved run when `resume`), evaluate, summarise.

        Returns the summary (also written to `summary.json`). Raises `NonFiniteLoss` when the loss
        is NaN/inf; the weights of that step are never applied and the last checkpoint is kept.
        """
        from tqdm import tqdm

        self._prepare(resume)
        cfg, total = self.cfg, self.cfg.iterations
        ipe = steps_per_epoch(len(self.train_set), cfg.batch_size, self.info.world_size)  # type: ignore[arg-type]
        kill_at = int(os.environ.get(KILL_AT_ITER_ENV, "-1"))
        bar = tqdm(
            total=total,
            initial=self.iteration,
            disable=not (self.progress and self.info.is_main),
            unit="it",
            desc="train",
            dynamic_ncols=True,
            file=sys.stderr,
        )
        window: dict[str, float] = {}
        window_n, window_t0 = 0, time.perf_counter()
        batches = None
        self.ddp_model.train()
        while self.iteration < total:
            t0 = time.perf_counter()
            epoch, pos = divmod(self.iteration, ipe)
            if batches is None or pos == 0:
                batches = iter(self._loader(epoch, pos * cfg.batch_size))
            images, labels = split_batch(next(batches))
            images = images.to(self.info.device, non_blocking=True)
            labels = labels.to(self.info.device, non_blocking=True)
            lr = self.schedule.apply(self.optimizer, self.iteration)
            terms = self.loss_terms(images, labels, self.iteration)
            loss = torch.stack([t.float() for t in terms.values()]).sum()
            self._check_finite(loss)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.iteration += 1
            self.elapsed += time.perf_counter() - t0
            if self.iteration == kill_at:
                print(f"fault injection: killed after iteration {kill_at}", file=sys.stderr)
                sys.stderr.flush()
                os.kill(os.getpid(), signal.SIGKILL)

            for k, v in terms.items():
                window[k] = window.get(k, 0.0) + float(v.detach())
            window["loss"] = window.get("loss", 0.0) + float(loss.detach())
            window_n += 1
            bar.set_postfix(loss=f"{float(loss.detach()):.4f}", lr=f"{lr:.2e}", refresh=False)
            bar.update(1)
            if self.iteration % cfg.log_every == 0 or self.iteration == total:
                dt = time.perf_counter() - window_t0
                self._log(
                    {
                        "kind": "train",
                        "iter": self.iteration,
                        "epoch": epoch,
                        "lr": lr,
                        **{k: v / window_n for k, v in window.items()},
                        "it_s": window_n / dt if dt > 0 else None,
                        "images_s": window_n * cfg.batch_size * self.info.world_size / dt
                        if dt > 0
                        else None,
                    }
                )
                window, window_n, window_t0 = {}, 0, time.perf_counter()
            # evaluate before checkpointing: a kill in between re-runs the evaluation on resume
            # instead of skipping it (eval draws no random numbers, so training is unchanged)
            if cfg.eval_every and self.iteration % cfg.eval_every == 0 and self.iteration < total:
                t_eval = time.perf_counter()
                self._evaluate_and_log()
                window_t0 += time.perf_counter() - t_eval  # it/s counts training time only
            if self.iteration % cfg.ckpt_every == 0 or self.iteration == total:
                self._save()
        bar.close()
        result = self._evaluate_and_log() if self.val_set is not None else {}
        summary = {
            **self.identity,
            "iterations": self.iteration,
            "time_s": round(self.elapsed, 3),
            "images_per_s": round(
                self.iteration * cfg.batch_size * self.info.world_size / self.elapsed, 3
            )
            if self.elapsed > 0
            else None,
            "checkpoint": str(self.ckpt_dir / ckpt.LAST),
            **result,
        }
        if self.info.is_main:
            atomic_write_json(self.run_dir / "summary.json", summary)
        return summary

    def _check_finite(self, loss: torch.Tensor) -> None:
        bad = torch.tensor([0.0 if torch.isfinite(loss) else 1.0], device=loss.device)
        if self.info.enabled:
            torch.distributed.all_reduce(bad)
        if float(bad) == 0.0:
            return
        value = float(loss.detach())
        self._log({"kind": "stopped", "iter": self.iteration, "reason": f"loss {value}"})
        kept = (
            f"kept the last good checkpoint {self.last_good}"
            if self.last_good
            else "no checkpoint had been written yet"
        )
        raise NonFiniteLoss(
            f"{self.run_dir}: loss became {value} at iteration {self.iteration}; stopped and {kept}"
        )

    def _sync_buffers(self) -> None:
        """Give every rank rank 0's BN statistics (DDP only does so at the next forward)."""
        if self.info.enabled:
            for buf in self.model.buffers():
                torch.distributed.broadcast(buf, src=0)

    def _evaluate_and_log(self) -> dict[str, Any]:
        self._sync_buffers()
        if self.val_set is None:
            return {}
        cm = evaluate(
            self.model,
            self.val_set,
            self.num_classes,
            info=self.info,
            num_workers=self.cfg.num_workers,
        )
        result = scores(cm, self.class_names)
        self._log({"kind": "eval", "iter": self.iteration, "split": "val", **result})
        return result


def check_identity(run_dir: str | Path, saved: dict[str, Any], identity: dict[str, Any]) -> None:
    """Refuse to resume a run of another model (one line naming both)."""
    old = {k: saved.get(k) for k in identity}
    if old != identity:
        raise UserError(f"{run_dir}: is a run of {_describe(old)}, not of {_describe(identity)}")


def _describe(identity: dict[str, Any]) -> str:
    model = identity.get("model", "?")
    if isinstance(model, dict):
        model = f"arch {json.dumps(model, sort_keys=True)[:80]}"
    else:
        model = f"model '{model}'"
    n = identity.get("num_classes")
    return f"{model} ({n} classes)" if n is not None else model

