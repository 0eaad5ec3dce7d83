"""Training boosters inside the search drivers (gradient, Optuna FFNet, routing).

A driver trains `with_heads(net, boosters)`: the same `BoostedNet` + `BoosterLoss` as `nas train`,
so its stages (pretrain and search, each proxy training, the routing training) add the detail /
boundary losses. Everything that reads the searched network itself (derive, build, inherit, the
distillation teacher, export) keeps using `net`, which the heads never enter. Two seams:

- `StageLoss` runs the driver's own hook (latency, budget, pruner) on `net` — those hooks read
  the network's attributes (`latency_terms`, `topo`), which the wrapper does not have — and the
  booster loss on the wrapper.
- at the end of a boosted stage `strip_checkpoint` rewrites `last.pt` with `net`'s weights only
  (what `nas retrain`'s teacher and the FFNet driver's best-trial load read) and keeps the heads
  in `booster_heads.pt`, from which `load_stage_weights` restores them when a resumed search
  skips the finished stage.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from nas.errors import UserError
from nas.train.boosters.config import BoosterConfig, boost
from nas.train.boosters.loss import BoosterLoss
from nas.train.boosters.taps import BoostedNet
from nas.train.trainer import ExtraLoss, LossContext, unwrap

HEADS_FILE = "booster_heads.pt"
HEAD_PREFIX = "booster."


def active(boosters: BoosterConfig | None) -> BoosterConfig | None:
    """`boosters` when any is on, else None (the drivers' one test for "boosted")."""
    return boosters if boosters is not None and boosters.enabled else None


def booster_record(boosters: BoosterConfig | None) -> dict[str, Any]:
    """The run-config / stage-identity entry: absent for an unboosted run, so runs started
    before boosters existed still resume."""
    b = active(boosters)
    return {"boosters": b.as_dict()} if b is not None else {}


def booster_names(boosters: BoosterConfig | None) -> list[str]:
    """What summary.json says was used, e.g. ["detail", "boundary"]; [] for none."""
    b = active(boosters)
    return b.heads() if b is not None else []


def with_heads(net: nn.Module, boosters: BoosterConfig | None) -> nn.Module:
    """`net` wrapped with the booster heads (training only), or `net` itself when unboosted.

    Search drivers never make a network slimmable: `nas search --slimmable` is refused earlier.
    """
    b = active(boosters)
    if b is None:
        return net
    if b.slimmable:
        raise UserError("--slimmable: applies to `nas train`, not to a search")
    return boost(net, b)


def head_param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """SGD parameter groups of the booster heads (for drivers that build their own optimiser);
    no weight decay on 1-D parameters, as `sgd_for`."""
    heads = [p for n, p in model.named_parameters() if n.startswith(HEAD_PREFIX)]
    groups = [{"params": [p for p in heads if p.ndim > 1], "weight_decay": weight_decay},
              {"params": [p for p in heads if p.ndim <= 1], "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


class StageLoss:
    """Trainer `extra_loss` of a (possibly boosted) search stage.

    Args:
        driver: the driver's own hook (latency, budget, pruner), or None; it is handed the
            searched network, never the booster wrapper.
        boosters: the run's boosters (None or none on: no booster terms).
    """

    def __init__(self, driver: ExtraLoss | None, boosters: BoosterConfig | None) -> None:
        self.driver = driver
        b = active(boosters)
        self.booster_loss = BoosterLoss(b) if b is not None else None

    def __call__(self, ctx: LossContext) -> dict[str, torch.Tensor]:
        terms: dict[str, torch.Tensor] = {}
        if self.driver is not None:
            model = unwrap(ctx.model)
            inner = model.net if isinstance(model, BoostedNet) else ctx.model
            terms.update(self.driver(dataclasses.replace(ctx, model=inner)))
        if self.booster_loss is not None:
            terms.update(self.booster_loss(ctx))
        return terms


def stage_loss(driver: ExtraLoss | None, boosters: BoosterConfig | None) -> ExtraLoss | None:
    """`StageLoss`, or the driver's hook itself when no booster is on (unchanged behaviour)."""
    return StageLoss(driver, boosters) if active(boosters) is not None else driver


def _boosted(model: nn.Module) -> bool:
    return isinstance(model, BoostedNet) and hasattr(model, "booster")


def strip_checkpoint(model: nn.Module, folder: Path) -> None:
    """After a boosted stage: `folder/checkpoints/last.pt` gets the searched network's own
    weights, the heads go to `folder/booster_heads.pt` (the boosted checkpoint stays as
    `prev.pt`). Idempotent; nothing happens for an unboosted model."""
    from nas.io import atomic_torch_save
    from nas.train.checkpoint import load_checkpoint, save_checkpoint

    if not _boosted(model):
        return
    state = load_checkpoint(folder / "checkpoints")
    weights = state.pop("model")
    heads = {k: v for k, v in weights.items() if k.startswith(HEAD_PREFIX)}
    if not heads:
        return  # already stripped
    state.pop("path", None)
    state.pop("format", None)
    atomic_torch_save(folder / HEADS_FILE, heads)
    save_checkpoint(folder / "checkpoints", {
        **state, "model": {k: v for k, v in weights.items() if not k.startswith(HEAD_PREFIX)}})


def load_stage_weights(model: nn.Module, weights: dict[str, Any], folder: Path) -> None:
    """Load a finished stage's checkpoint into `model`, the heads from `booster_heads.pt` when
    `strip_checkpoint` moved them there."""
    if _boosted(model) and not any(k.startswith(HEAD_PREFIX) for k in weights):
        path = folder / HEADS_FILE
        if not path.is_file():
            raise UserError(f"{folder}: the stage finished without boosters ({HEADS_FILE} "
                            "missing); resume it with the boosters it was run with")
        weights = {**weights, **torch.load(path, weights_only=True)}
    model.load_state_dict(weights)
