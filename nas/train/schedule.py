"""Poly learning rate with linear warm-up, as a pure function of the iteration.

No internal counter: `lr_at(i)` depends on `i` alone, so a resumed run sets exactly the LR the
uninterrupted run would have set, with nothing to save in the checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PolyWarmupLR:
    """lr(i) = base * (1 - i / total) ** power, times a linear warm-up factor for i < warmup.

    Args:
        base_lr: the LR the decay starts from.
        total_iters: length of the run; lr reaches 0 at i == total_iters.
        power: poly exponent (0.9 in BiSeNet/STDC/RTSeg recipes).
        warmup_iters: steps over which the factor rises linearly from `warmup_ratio` to 1.
        warmup_ratio: factor at step 0.
    """

    base_lr: float
    total_iters: int
    power: float = 0.9
    warmup_iters: int = 0
    warmup_ratio: float = 0.1

    def lr_at(self, iteration: int) -> float:
        progress = min(max(iteration, 0), self.total_iters) / self.total_iters
        lr = self.base_lr * (1.0 - progress) ** self.power
        if iteration < self.warmup_iters:
            alpha = iteration / self.warmup_iters
            lr *= self.warmup_ratio + (1.0 - self.warmup_ratio) * alpha
        return lr

    def apply(self, optimizer: torch.optim.Optimizer, iteration: int) -> float:
        """Set every param group's LR for `iteration` (times its `lr_mult`, default 1)."""
        lr = self.lr_at(iteration)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_mult", 1.0)
        return lr
