"""The search's optimiser: SGD on the weights and Adam on the architecture, stepped together.

RTSeg trains weights W, gates C and choices H "simultaneously" (eq. 8). They need different
optimisers: weights the usual SGD recipe with weight decay; gates and logits no weight decay (it
would prune by itself) and a step size that does not depend on the device's millisecond scale,
hence Adam. `Trainer` takes one optimiser object, so this class presents both as one: the poly
schedule sets every group's LR (the architecture group through its `lr_mult`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn as nn

from nas.train.config import TrainConfig


class JointOptimizer:
    """SGD (weights) + Adam (architecture) behind the subset of `Optimizer` that Trainer uses."""

    def __init__(self, weights: torch.optim.Optimizer, arch: torch.optim.Optimizer) -> None:
        self.weights, self.arch = weights, arch

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.weights.param_groups + self.arch.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.weights.zero_grad(set_to_none=set_to_none)
        self.arch.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        self.weights.step()
        self.arch.step()

    def state_dict(self) -> dict[str, Any]:
        return {"weights": self.weights.state_dict(), "arch": self.arch.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.weights.load_state_dict(state["weights"])
        self.arch.load_state_dict(state["arch"])


def sgd_for(params: Iterable[nn.Parameter], cfg: TrainConfig) -> torch.optim.SGD:
    """SGD with momentum; no weight decay on 1-D parameters (norms, biases)."""
    decay, no_decay = [], []
    for p in params:
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.SGD([g for g in groups if g["params"]], lr=cfg.lr, momentum=cfg.momentum)


def search_optimizer(supernet: nn.Module, cfg: TrainConfig, arch_lr: float) -> JointOptimizer:
    """SGD on `supernet.weight_parameters()`, Adam (no weight decay) on `arch_parameters()`."""
    arch = torch.optim.Adam(
        [{"params": list(supernet.arch_parameters()), "lr_mult": arch_lr / cfg.lr}],
        lr=arch_lr, betas=(0.5, 0.999), weight_decay=0.0,
    )
    return JointOptimizer(sgd_for(supernet.weight_parameters(), cfg), arch)
