"""`TrainConfig`: every knob of a training run, validated from YAML or the command line.

A run's config is saved to `runs/<name>/config.yaml`; `--resume` reloads it and refuses to go on
when a value that changes the maths differs (see `nas.runs.config_diff`). A bad key or value in a
YAML file fails with the file and the key, never with a traceback.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas.errors import UserError
from nas.io import read_yaml_mapping

# Keys that may differ between the original run and a `--resume`: they change where and how often
# things are written or which hardware runs the maths, never the maths itself.
RESUMABLE_KEYS = frozenset({"device", "num_workers", "log_every", "ckpt_every", "eval_every"})


@dataclass
class TrainConfig:
    """Hyper-parameters of an iteration-based training run.

    Args:
        iterations: optimiser steps in the whole run (not epochs: resume and LR are per step).
        batch_size: images per step per process (under DDP the global batch is this x world).
        lr: base learning rate of SGD; 0.01 suits CPU-sized batches.
        momentum: SGD momentum.
        weight_decay: L2 on conv/linear weights (not on norm weights or biases).
        warmup_iters: steps of linear warm-up before the poly decay takes over.
        warmup_ratio: LR factor at step 0 of the warm-up.
        poly_power: exponent of the poly decay.
        crop: training crop (H, W).
        scales: random-rescale factors; one is drawn per training sample before cropping.
        eval_crop: centre crop (H, W) of val images; empty for whole images (the standard).
        seed: seeds weights, sampling order and augmentation.
        ckpt_every: write `checkpoints/last.pt` every N steps (and at the end).
        eval_every: evaluate on the val split every K steps (0: only at the end).
        log_every: append a `metrics.jsonl` line every N steps.
        aux_weight: gamma, weight of the auxiliary-head losses (RTSeg eq. 12).
        kd_lambda: lambda, weight of the pixel-wise distillation loss (RTSeg eq. 12).
        kd_temperature: softmax temperature T of the distillation.
        ohem: use online hard-example mining instead of plain cross-entropy.
        ohem_thresh: OHEM keeps pixels whose true-class probability is below this.
        ohem_min_kept: OHEM keeps at least this many pixels per batch.
        num_workers: DataLoader worker processes.
        device: `cpu` or `cuda`.
    """

    iterations: int = 1000
    batch_size: int = 4
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_iters: int = 100
    warmup_ratio: float = 0.1
    poly_power: float = 0.9
    crop: list[int] = field(default_factory=lambda: [256, 512])
    scales: list[float] = field(default_factory=lambda: [0.5, 0.75, 1.0, 1.5, 2.0])
    eval_crop: list[int] = field(default_factory=list)
    seed: int = 0
    ckpt_every: int = 200
    eval_every: int = 0
    log_every: int = 10
    aux_weight: float = 1.0
    kd_lambda: float = 0.0
    kd_temperature: float = 1.0
    ohem: bool = False
    ohem_thresh: float = 0.7
    ohem_min_kept: int = 10000
    num_workers: int = 0
    device: str = "cpu"

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> TrainConfig:
        """Build a validated config; `source` names the file (or flag set) in error messages."""
        if not isinstance(data, dict):
            raise UserError(f"{source}: expected a mapping of training options")
        known = check_config_keys(cls, data, source)
        values = {k: _coerce(source, k, v, known[k]) for k, v in data.items()}
        cfg = cls(**values)
        cfg.validate(source)
        return cfg

    def replace(self, source: str = "config", **changes: Any) -> TrainConfig:
        """A copy with `changes` applied and validated (used for command-line overrides)."""
        merged = self.as_dict()
        merged.update({k: v for k, v in changes.items() if v is not None})
        return TrainConfig.from_dict(merged, source)

    def validate(self, source: str = "config") -> None:
        def bad(key: str, expected: str) -> UserError:
            return UserError(f"{source}: '{key}' = {getattr(self, key)!r}; expected {expected}")

        for key in ("iterations", "batch_size", "ckpt_every", "log_every"):
            if getattr(self, key) < 1:
                raise bad(key, "an integer >= 1")
        for key in ("warmup_iters", "eval_every", "num_workers", "ohem_min_kept"):
            if getattr(self, key) < 0:
                raise bad(key, "an integer >= 0")
        if not self.lr > 0 or not math.isfinite(self.lr):
            raise bad("lr", "a positive number")
        if not 0 <= self.momentum < 1:
            raise bad("momentum", "a number in [0, 1)")
        for key in ("weight_decay", "aux_weight", "kd_lambda"):
            if getattr(self, key) < 0:
                raise bad(key, "a number >= 0")
        if not 0 < self.warmup_ratio <= 1:
            raise bad("warmup_ratio", "a number in (0, 1]")
        if not self.kd_temperature > 0:
            raise bad("kd_temperature", "a positive number")
        if not 0 < self.ohem_thresh <= 1:
            raise bad("ohem_thresh", "a number in (0, 1]")
        if len(self.crop) != 2 or min(self.crop) < 1:
            raise bad("crop", "[height, width] with positive integers")
        if not self.scales or min(self.scales) <= 0:
            raise bad("scales", "a non-empty list of positive factors")
        if self.eval_crop and (len(self.eval_crop) != 2 or min(self.eval_crop) < 1):
            raise bad("eval_crop", "[] or [height, width] with positive integers")
        if self.device not in ("cpu", "cuda"):
            raise bad("device", "'cpu' or 'cuda'")


def check_config_keys(
    cls: type, data: dict[str, Any], source: str
) -> dict[str, dataclasses.Field]:
    """Refuse a key that is not a field of the config dataclass `cls`; return its fields."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise UserError(
                f"{source}: unknown key '{key}'; expected one of: {', '.join(sorted(known))}"
            )
    return known


def _coerce(source: str, key: str, value: Any, f: dataclasses.Field) -> Any:
    """Check one value against the field's type; ints are accepted where floats are expected."""
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
    expected = type(default)
    if expected is bool:
        if isinstance(value, bool):
            return value
        raise UserError(f"{source}: '{key}' = {value!r}; expected true or false")
    if expected is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise UserError(f"{source}: '{key}' = {value!r}; expected an integer")
    if expected is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise UserError(f"{source}: '{key}' = {value!r}; expected a number")
    if expected is str:
        if isinstance(value, str):
            return value
        raise UserError(f"{source}: '{key}' = {value!r}; expected a string")
    if expected is list:
        item_type = float if key == "scales" else int
        ok = isinstance(value, (list, tuple)) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
        )
        if item_type is int:
            ok = ok and all(isinstance(v, int) for v in value)
        if not ok:
            kind = "integers" if item_type is int else "numbers"
            raise UserError(f"{source}: '{key}' = {value!r}; expected a list of {kind}")
        return [item_type(v) for v in value]
    raise AssertionError(f"unhandled config type for {key}")


def load_train_config(path: str | Path) -> TrainConfig:
    """Load a YAML mapping of `TrainConfig` fields; unknown keys and bad values name the file."""
    return TrainConfig.from_dict(read_yaml_mapping(path, "config file"), str(path))


def parse_hw(text: str, source: str = "--crop") -> list[int]:
    """Parse `HxW` (or a single `S` for a square) into [H, W]."""
    parts = text.lower().split("x")
    try:
        hw = [int(p) for p in parts]
    except ValueError:
        raise UserError(f"{source}: '{text}' is not HxW (e.g. 256x512)") from None
    if len(hw) == 1:
        hw = hw * 2
    if len(hw) != 2 or min(hw) < 1:
        raise UserError(f"{source}: '{text}' is not HxW with positive integers (e.g. 256x512)")
    return hw
