"""The budget constraint of dynamic routing: a FLOPs budget (the paper's) or a latency budget.

Paper: L_C = (C(Space) / C - mu)^2, with C(Space) the expected cost of the gated cells and
routes (stem, decoder and gates excluded). The official training multiplies it by lambda and a
warm-up weight w: 0 for the first 40% of training, then ramping linearly to 1 over 2%.

`expected_cost(terms, cost)` is the same sum for any per-block cost: `flops_costs` (MACs) or a
latency callable (the device predictor) that maps the supernet's `latency_terms(input_hw)`
specs to per-block latency tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch

from latency.blocks import BlockSpec, SoftBlock
from nas.errors import UserError

CostFn = Callable[[list[BlockSpec]], "torch.Tensor | Sequence[float]"]


@dataclass(frozen=True)
class BudgetConfig:
    """Budget loss settings.

    Args:
        lam: loss weight lambda.
        mu: target ratio of expected to maximal cost, in (0, 1].
        start: fraction of training before the loss switches on (official: 0.4).
        ramp: fraction of training over which its weight ramps from 0 to 1 (official: 0.02).
    """

    lam: float
    mu: float
    start: float = 0.4
    ramp: float = 0.02

    def __post_init__(self) -> None:
        if not 0 < self.mu <= 1:
            raise UserError(f"budget field 'mu': expected a number in (0, 1], got {self.mu!r}")
        if self.lam < 0:
            raise UserError(f"budget field 'lambda': expected >= 0, got {self.lam!r}")
        if not 0 <= self.start <= 1 or self.ramp < 0:
            raise UserError("budget fields 'start'/'ramp': expected fractions of training in "
                            f"[0, 1], got {self.start!r} / {self.ramp!r}")


# Dynamic-A/B/C of the paper (all with small gates).
PRESETS = {
    "dynamic-a": BudgetConfig(lam=0.8, mu=0.1),
    "dynamic-b": BudgetConfig(lam=0.5, mu=0.1),
    "dynamic-c": BudgetConfig(lam=0.5, mu=0.2),
}


def budget_weight(progress: float, cfg: BudgetConfig) -> float:
    """w at `progress` (step / total steps): 0 before `start`, then linear up to 1 over `ramp`."""
    if progress < cfg.start:
        return 0.0
    if cfg.ramp <= 0:
        return 1.0
    return min(1.0, (progress - cfg.start) / cfg.ramp)


def budget_loss(
    expected: torch.Tensor, maximum: float | torch.Tensor, cfg: BudgetConfig, progress: float,
) -> torch.Tensor:
    """lambda * w * (C_expected / C_max - mu)^2 (paper's L_C with the official schedule)."""
    w = budget_weight(progress, cfg)
    return cfg.lam * w * (expected / maximum - cfg.mu) ** 2  # paper: L_C = (C(Space)/C - mu)^2


@lru_cache(maxsize=4096)
def _spec_macs(spec: BlockSpec) -> int:
    return spec.macs()


def flops_costs(specs: list[BlockSpec]) -> torch.Tensor:
    """MACs of each block (counted once per distinct spec on the meta device)."""
    return torch.tensor([float(_spec_macs(s)) for s in specs])


def expected_cost(terms: Sequence[SoftBlock], cost: CostFn = flops_costs) -> torch.Tensor:
    """Sum over gated blocks of prob x cost (paper: C(Space) = sum over nodes of C(Node)).

    `cost(specs)` returns one cost per spec: MACs (`flops_costs`) or predicted latency; its
    tensors may carry gradients too. The gradient reaches the gates through each term's `prob`.
    """
    specs = [t.spec for t in terms]
    c = cost(specs)
    c = c if isinstance(c, torch.Tensor) else torch.tensor(list(c))
    total: torch.Tensor | float = 0.0
    for t, ci in zip(terms, c.unbind(0), strict=True):
        p = t.prob
        total = total + (p.to(ci.dtype) if isinstance(p, torch.Tensor) else p) * ci
    return total if isinstance(total, torch.Tensor) else torch.tensor(total)


def max_cost(terms: Sequence[SoftBlock], cost: CostFn = flops_costs) -> float:
    """C_max: every gated block running (prob 1)."""
    c = cost([t.spec for t in terms])
    c = c if isinstance(c, torch.Tensor) else torch.tensor(list(c))
    return float(c.sum())
