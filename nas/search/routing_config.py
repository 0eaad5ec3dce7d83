"""`RoutingSearchConfig`: the knobs of one dynamic-routing search (supernet, budget, training).

The routing driver trains the gated supernet once, with the budget loss switched on after 40% of
the steps (the official schedule), so it has one training stage, not RTSeg's three. The budget is
either the paper's FLOPs budget (`mu`: target share of the maximal gated MACs) or a latency
budget (`--target-ms`: the gate-weighted block latencies of the device predictor replace MACs).
Presets: `tiny` (tests), `cpu` (a 2-core machine), `paper` (Cityscapes, Layer16, GPUs); budget
presets `dynamic-a/b/c` are the paper's lambda/mu pairs.
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass, field
from typing import Any

from nas.errors import UserError, unknown_name
from nas.train.config import TrainConfig, check_config_keys

BUDGETS = ("latency", "flops")


@dataclass
class RoutingSearchConfig:
    """One routing search.

    Args:
        supernet: size options of the routing supernet (`num_layers`, `width_mult`,
            `small_gate`, ...); the space validates them.
        budget: "latency" (expected ms from the device predictor against `--target-ms`) or
            "flops" (the paper's expected-MACs ratio against `mu`).
        lam: weight lambda of the budget loss.
        mu: FLOPs budget: target ratio of expected to maximal gated MACs, in (0, 1].
        start, ramp: the budget weight is 0 for the first `start` of training, then ramps to 1
            over `ramp` (official: 0.4 and 0.02).
        gate_lr: 0 trains the gates with the weights' SGD (the paper, 186k steps); > 0 gives
            them Adam at this LR (poly-decayed), so a few hundred CPU steps can close routes.
        report_images: how many val images the per-image report and the common network use.
        timing_passes: passes over those images when timing (per-image median over passes).
        common_threshold: share of images a route must run in to join the common network.
        train: the supernet's training stage.
    """

    supernet: dict[str, Any] = field(default_factory=dict)
    budget: str = "latency"
    lam: float = 0.8
    mu: float = 0.1
    start: float = 0.4
    ramp: float = 0.02
    gate_lr: float = 0.0
    report_images: int = 20
    timing_passes: int = 5
    common_threshold: float = 0.95
    train: TrainConfig = field(default_factory=TrainConfig)

    def as_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["train"] = self.train.as_dict()
        d["supernet"] = dict(self.supernet)
        return d

    @classmethod
    def from_dict(cls, data: Any, source: str = "config") -> RoutingSearchConfig:
        if not isinstance(data, dict):
            raise UserError(f"{source}: expected a mapping of routing search options")
        check_config_keys(cls, data, source)
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key == "train":
                values[key] = TrainConfig.from_dict(value or {}, f"{source}: train")
            elif key == "supernet":
                if not isinstance(value, dict):
                    raise UserError(f"{source}: 'supernet' = {value!r}; expected a mapping")
                values[key] = dict(value)
            elif key == "budget":
                if value not in BUDGETS:
                    raise UserError(f"{source}: 'budget' = {value!r}; expected one of "
                                    f"{', '.join(BUDGETS)}")
                values[key] = value
            elif key in ("report_images", "timing_passes"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise UserError(f"{source}: '{key}' = {value!r}; expected an integer >= 1")
                values[key] = value
            else:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise UserError(f"{source}: '{key}' = {value!r}; expected a number")
                values[key] = float(value)
        cfg = cls(**values)
        cfg.validate(source)
        return cfg

    def validate(self, source: str = "config") -> None:
        if not (math.isfinite(self.mu) and 0 < self.mu <= 1):
            raise UserError(f"{source}: budget 'mu' = {self.mu!r}; expected a number in (0, 1]")
        if not (math.isfinite(self.lam) and self.lam >= 0):
            raise UserError(f"{source}: budget 'lambda' = {self.lam!r}; expected a number >= 0")
        if not (math.isfinite(self.gate_lr) and self.gate_lr >= 0):
            raise UserError(f"{source}: 'gate_lr' = {self.gate_lr!r}; expected a number >= 0")
        for key in ("start", "ramp", "common_threshold"):
            v = getattr(self, key)
            if not (math.isfinite(v) and 0 <= v <= 1):
                raise UserError(f"{source}: '{key}' = {v!r}; expected a fraction in [0, 1]")
        import search_spaces

        # layer count / scale set the space cannot form fail here, naming the field
        try:
            search_spaces.get("routing").sample(random.Random(0), **self.supernet)
        except UserError as err:
            raise UserError(f"{source}: supernet: {err}") from None

    def replace(self, source: str = "command line", **changes: Any) -> RoutingSearchConfig:
        d = self.as_dict()
        d.update({k: v for k, v in changes.items() if v is not None})
        return RoutingSearchConfig.from_dict(d, source)


def _train(**kw: Any) -> TrainConfig:
    return TrainConfig.from_dict(kw, "preset")


PRESETS: dict[str, RoutingSearchConfig] = {
    # tests: 4 layers at width 8, a handful of steps on 32x64 crops
    "tiny": RoutingSearchConfig(
        supernet={"num_layers": 4, "width_mult": 0.125, "small_gate": True}, lam=2.0,
        gate_lr=0.05, report_images=4, timing_passes=2,
        train=_train(iterations=10, batch_size=2, crop=[32, 64], scales=[1.0], lr=0.02,
                     warmup_iters=0, ckpt_every=5, log_every=2, aux_weight=0.0),
    ),
    # a 2-core machine: Layer-8 at width 16, a few hundred steps on 64x128 crops
    "cpu": RoutingSearchConfig(
        supernet={"num_layers": 8, "width_mult": 0.25, "small_gate": True}, lam=10.0,
        gate_lr=0.05, report_images=20, timing_passes=5,
        train=_train(iterations=200, batch_size=4, crop=[64, 128], scales=[0.75, 1.0, 1.25],
                     lr=0.05, warmup_iters=10, ckpt_every=50, log_every=10, aux_weight=0.0),
    ),
    # official recipe, Cityscapes: Layer16, small gates, SGD 0.05 poly, batch 8 x 768 crops,
    # 186k iterations (needs GPUs)
    "paper": RoutingSearchConfig(
        supernet={"preset": "layer16", "small_gate": True}, budget="flops", lam=0.8, mu=0.1,
        report_images=500, timing_passes=3,
        train=_train(iterations=186_000, batch_size=8, crop=[768, 768],
                     scales=[0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0], lr=0.05, momentum=0.9,
                     weight_decay=1e-4, poly_power=0.9, warmup_iters=1000, ckpt_every=2000,
                     log_every=50, aux_weight=0.0, device="cuda", num_workers=4),
    ),
}

# Dynamic-A/B/C of the paper: FLOPs budget, small gates, (lambda, mu)
BUDGET_PRESETS: dict[str, dict[str, Any]] = {
    "dynamic-a": {"budget": "flops", "lam": 0.8, "mu": 0.1},
    "dynamic-b": {"budget": "flops", "lam": 0.5, "mu": 0.1},
    "dynamic-c": {"budget": "flops", "lam": 0.5, "mu": 0.2},
}


def get_routing_preset(name: str) -> RoutingSearchConfig:
    if name not in PRESETS:
        raise unknown_name("routing search preset", name, PRESETS)
    return RoutingSearchConfig.from_dict(PRESETS[name].as_dict(), f"preset {name}")


def apply_budget_preset(cfg: RoutingSearchConfig, name: str) -> RoutingSearchConfig:
    """The paper's Dynamic-A/B/C budget (and its small gates) on top of `cfg`."""
    if name not in BUDGET_PRESETS:
        raise unknown_name("budget preset", name, BUDGET_PRESETS)
    return cfg.replace(f"--budget-preset {name}", supernet={**cfg.supernet, "small_gate": True},
                       **BUDGET_PRESETS[name])
