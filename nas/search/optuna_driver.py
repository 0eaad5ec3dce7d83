"""The Optuna search driver (FFNet): each trial builds one arch, checks it, trains it briefly.

Single objective: maximise the proxy val mIoU (a short training run of the trial's own network,
the median pruner stopping poor ones at the half-way evaluation) subject to
predicted latency <= target, declared with Optuna 5's `trial.set_constraint` so TPE models the
feasible region. A candidate the predictor rejects is *not trained*: the trial completes at once
with mIoU 0, its predicted latency recorded and its constraint positive (constraint-aware samplers
rank it by how far over the target it is). Multi-objective (`--objectives miou,latency`):
NSGA-II over (mIoU up, predicted latency down), the Pareto front the result.
With `--detail-guidance` / `--boundary` each proxy training adds the booster heads and losses
(training only: the trial's final checkpoint holds its network alone).

Outputs in runs/<name>/: config.yaml, study.db (unless --storage), trials/<n>/ (each trained
trial's Trainer folder), trials.csv, plots/pareto.png, arch.json + subnet.pt of the chosen trial,
summary.json.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from pathlib import Path
from typing import Any

from nas.errors import UserError
from nas.search.optuna_loop import open_run_study, run_trials
from nas.search.optuna_options import OptunaOptions, identity_train, jsonable
from nas.search.optuna_outputs import finish
from nas.search.optuna_space import FFNetChoices

WORKER = f"{socket.gethostname()}:{os.getpid()}"  # which machine/process ran a trial
PRUNE_RUNGS = 2  # evaluations during a proxy training: the median pruner decides at the first


def proxy_config(req: Any) -> Any:
    """The search stage's budget, evaluated PRUNE_RUNGS times for the pruner, no distillation."""
    cfg = req.cfg.search
    every = max(1, cfg.iterations // PRUNE_RUNGS)
    return cfg.replace("proxy training", eval_every=every if every < cfg.iterations else 0,
                       ckpt_every=cfg.iterations, kd_lambda=0.0)


class PruneHook:
    """Trainer `extra_loss` that reports each mid-run val mIoU to the trial and prunes.

    The Trainer evaluates at `eval_every` and logs the result before the next step's losses are
    computed, so at that step the hook reads the record and asks the pruner; it adds no loss.
    """

    def __init__(self, trial: Any, metrics: Path, every: int) -> None:
        self.trial, self.metrics, self.every = trial, metrics, every

    def __call__(self, ctx: Any) -> dict[str, Any]:
        import optuna

        from nas.runs import read_jsonl

        it = ctx.iteration
        if self.every and it and it % self.every == 0:
            evals = [r for r in read_jsonl(self.metrics)
                     if r.get("kind") == "eval" and r.get("iter") == it]
            if evals and isinstance(evals[-1].get("miou"), float):
                self.trial.report(evals[-1]["miou"], step=it)
                if self.trial.should_prune():
                    self.trial.set_user_attr("pruned_at", it)
                    raise optuna.TrialPruned(f"val mIoU {evals[-1]['miou']:.4f} at step {it}")
        return {}


def attainable(predictor: Any, choices: FFNetChoices, hw: tuple[int, int], n_cls: int,
               n: int = 256) -> tuple[float, float]:
    """(min, max) predicted ms over the lightest archs and a random sample (an estimate)."""
    import random

    from nas.search.optuna_space import extreme_archs, predict_archs, random_arch

    rng = random.Random(0)
    archs = extreme_archs(choices) + [random_arch(rng, choices) for _ in range(n)]
    ms = predict_archs(predictor, archs, hw, n_cls)
    return float(ms.min()), float(ms.max())


def run_optuna_search(req: Any, opts: OptunaOptions | None = None) -> dict[str, Any]:
    """Run (or continue) the FFNet study of `req`; returns the summary written to summary.json."""
    import optuna

    import search_spaces
    from nas.search.gradient import _data_source
    from nas.search.optuna_space import predict_archs, suggest_arch
    from nas.search.predictor_setup import get_predictor
    from nas.search.stages import stage_data
    from nas.train import Trainer
    from nas.train.boosters.search import (
        booster_names,
        booster_record,
        stage_loss,
        strip_checkpoint,
        with_heads,
    )
    from nas.train.trainer import NonFiniteLoss, seed_everything

    opts = opts or OptunaOptions()
    boosters = getattr(req, "boosters", None)
    t_start = time.perf_counter()
    space = search_spaces.get("ffnet")
    proxy = proxy_config(req)
    data = stage_data(_data_source(req.data), proxy)
    n_cls, hw, target = data.num_classes, req.input_hw, float(req.target_ms)
    if not math.isfinite(target) or target <= 0:
        raise UserError(f"--target-ms: expected a positive number of milliseconds, got {target}")
    choices = opts.choices
    size = {"width_mult": choices.width_mult, "max_depth": choices.max_depth}
    predictor = get_predictor(req.device, "ffnet", auto_profile=req.auto_profile,
                              supernet_cfg=size, input_hw=hw, num_classes=n_cls,
                              progress=req.progress)
    lo, hi = attainable(predictor, choices, hw, n_cls)
    where = f"ffnet (width_mult {choices.width_mult:g}) on '{req.device}' at {hw[0]}x{hw[1]}"
    print(f"predicted latency of {where}: {lo:.3f} (lightest) .. ~{hi:.3f} ms (of 256 random "
          f"archs); target {target:g} ms", flush=True)
    if target < lo:
        raise UserError(f"--target-ms {target:g} is infeasible: below the lightest arch of "
                        f"{where} ({lo:.3f} ms predicted)")

    identity = jsonable({
        "driver": "optuna", "space": "ffnet", "target_ms": target, "device": req.device,
        "input_size": list(hw), "num_classes": n_cls, "objectives": list(opts.objectives),
        "choices": choices.as_dict(), "proxy": identity_train(proxy),
    })
    study, storage_url = open_run_study(req, opts, identity, pruner=(
        optuna.pruners.NopPruner() if opts.multi
        else optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)))

    def objective(trial: optuna.Trial) -> float | tuple[float, float]:
        arch = suggest_arch(trial, choices)
        pred = float(predict_archs(predictor, [arch], hw, n_cls)[0])
        trial.set_user_attr("arch", json.dumps(arch))
        trial.set_user_attr("predicted_ms", round(pred, 5))
        trial.set_user_attr("trained", False)
        trial.set_user_attr("worker", WORKER)
        trial.set_constraint("latency_ms", pred - target)  # feasible when <= 0
        if pred > target:  # fail fast: the predictor rejects it, nothing is trained
            return (0.0, pred) if opts.multi else 0.0
        folder = req.folder / "trials" / f"{trial.number:04d}"
        seed_everything(proxy.seed)
        net = space.build(arch, n_cls)
        model = with_heads(net, boosters)  # `net` itself when unboosted
        hook = None if opts.multi else PruneHook(trial, folder / "metrics.jsonl",
                                                 proxy.eval_every)
        trainer = Trainer(model, data.train, proxy, folder,
                          identity={"space": "ffnet", "trial": trial.number},
                          num_classes=n_cls, val_set=data.val,
                          extra_loss=stage_loss(hook, boosters), progress=False,
                          run_config={"arch": arch, "train": proxy.as_dict(),
                                      **booster_record(boosters)})
        summary = trainer.fit()
        strip_checkpoint(model, folder)  # `finish` loads the best trial's net from it
        miou = float(summary.get("miou", float("nan")))
        trial.set_user_attr("trained", True)
        trial.set_user_attr("folder", str(folder))
        return (miou, pred) if opts.multi else miou

    run_trials(study, objective, opts, catch=(NonFiniteLoss,))
    return finish(req, opts, study, storage_url, space, n_cls, t_start,
                  extra={"boosters": booster_names(boosters)})


