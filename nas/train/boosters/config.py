"""`BoosterConfig`: which training boosters a run uses, and `boost()` that applies them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch.nn as nn

from nas.errors import UserError
from nas.train.boosters.slimmable import DEFAULT_WIDTHS, check_widths, make_slimmable


@dataclass
class BoosterConfig:
    """Training boosters (all training-only: the exported network is unchanged by them).

    Args:
        detail: STDC detail guidance (detail head on the 1/8 feature, BCE + Dice).
        detail_weight: weight of the detail loss.
        boundary: SlimSeg auxiliary boundary head (L_b) and boundary-guided masking loss (L_g).
        lambda1: weight of L_b. lambda2: weight of L_g.
        tau: boundary probability above which a pixel enters L_g's mask.
        slimmable: train at every width in `widths` with one BN per width (SlimSeg).
        widths: increasing, ending at 1.0.
        kd_temperature: softmax temperature of the stepwise distillation.
        tap: module path of the 1/8 feature (default: the model's declared or known one).
    """

    detail: bool = False
    detail_weight: float = 1.0
    boundary: bool = False
    lambda1: float = 1.0
    lambda2: float = 1.0
    tau: float = 0.8
    slimmable: bool = False
    widths: tuple[float, ...] = field(default_factory=lambda: DEFAULT_WIDTHS)
    kd_temperature: float = 1.0
    tap: str | None = None

    @property
    def enabled(self) -> bool:
        return self.detail or self.boundary or self.slimmable

    def heads(self) -> list[str]:
        return [h for h, on in (("detail", self.detail), ("boundary", self.boundary)) if on]

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "boosters") -> BoosterConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise UserError(f"{source}: unknown keys {sorted(unknown)}; expected {sorted(known)}")
        cfg = cls(**{**data, "widths": tuple(data.get("widths", DEFAULT_WIDTHS))})
        cfg.validate(source)
        return cfg

    def validate(self, source: str = "boosters") -> None:
        self.widths = check_widths(self.widths, f"{source}: 'widths'")
        for key in ("detail_weight", "lambda1", "lambda2"):
            if not getattr(self, key) >= 0:
                raise UserError(f"{source}: '{key}' = {getattr(self, key)}; expected >= 0")
        if not 0 < self.tau < 1:
            raise UserError(f"{source}: 'tau' = {self.tau}; expected a number in (0, 1)")
        if not self.kd_temperature > 0:
            raise UserError(f"{source}: 'kd_temperature' = {self.kd_temperature}; expected > 0")


def boost(model: nn.Module, cfg: BoosterConfig) -> nn.Module:
    """Wrap `model` with the booster heads and make it slimmable, as `cfg` says.

    Returns a `BoostedNet` (state_dict = the model's keys + `booster.aux_heads.*`, and
    switchable BN keys when slimmable), or `model` itself when no booster is on.
    """
    from nas.train.boosters.taps import BoostedNet

    if not cfg.enabled:
        return model
    net = BoostedNet(model, cfg.heads(), tap=cfg.tap)
    if cfg.slimmable:
        make_slimmable(net, cfg.widths)
    return net
