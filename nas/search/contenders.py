"""Baseline subnets to hold a searched RTSeg arch against, at the same latency.

A search is only worth its cost if its arch beats cheaper ways of reaching the same latency:
the supernet slimmed uniformly (every channel group at one fraction, LIR in every mixed block,
as a width multiplier would) and random archs of the space. This module builds those contenders
near a predicted latency (a ladder of uniform fractions, a pool of random archs), picks among them
by *measured* latency (`closest_measured`, `within_measured`) and retrains any subnet under the
recipe `nas retrain` uses (inherited weights, SGD + poly LR, aux heads, KL self-distillation from
the pretrained supernet), so that every contender gets the same budget and the same teacher.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch.nn as nn

from nas.errors import UserError
from nas.search.stages import StageData, fit_stage
from nas.train import TrainConfig
from search_spaces.base import Arch, Space

Predict = Callable[[Arch], float]  # arch -> predicted whole-network ms


def uniform_arch(supernet_cfg: dict[str, Any], frac: float) -> Arch:
    """The supernet slimmed uniformly: the first round(frac * n) channels of every group (at
    least one) and LIR in every mixed block, the supernet's own plain ops."""
    from search_spaces.rtseg.config import channel_groups, mixed_blocks, resolve

    if not 0.0 < frac <= 1.0:
        raise UserError(f"uniform slimming: fraction {frac}; expected a number in (0, 1]")
    supernet, cfg = resolve(dict(supernet_cfg), field="supernet")
    return {"space": "rtseg", "supernet": supernet,
            "ops": {s: ["lir"] * n for s, n in mixed_blocks(cfg).items()},
            "channels": {g: max(1, round(frac * n)) for g, n in channel_groups(cfg).items()}}


def match_uniform(predict: Predict, supernet_cfg: dict[str, Any], target_ms: float, *,
                  lo: float = 0.05, hi: float = 1.0, steps: int = 25
                  ) -> tuple[Arch, float, float]:
    """(arch, fraction, predicted ms) of the uniform slimming closest to `target_ms`.

    Bisection on the fraction: predicted latency grows with the kept channels, and rounding makes
    it a step function, so the closest of every fraction tried is returned, not the last one.
    """
    tried: list[tuple[float, float]] = []

    def at(x: float) -> float:
        ms = predict(uniform_arch(supernet_cfg, x))
        tried.append((x, ms))
        return ms

    if at(hi) > target_ms and at(lo) < target_ms:
        for _ in range(steps):
            mid = (lo + hi) / 2
            if at(mid) < target_ms:
                lo = mid
            else:
                hi = mid
    x, ms = min(tried, key=lambda t: abs(t[1] - target_ms))
    return uniform_arch(supernet_cfg, x), x, ms


def uniform_ladder(predict: Predict, supernet_cfg: dict[str, Any], target_ms: float, *,
                   spread: float = 0.3, n: int = 13) -> list[tuple[Arch, float, float]]:
    """Distinct uniform slimmings (arch, fraction, predicted ms) around the predicted match.

    The predictor's error is not the same for every arch (on `cpu` the all-LIR uniform subnet
    measured 20% below a searched one of equal predicted latency), so a contender matched on
    predicted latency alone may not be matched at all. The caller times the ladder and keeps the
    rung whose *measured* latency is closest (`closest_measured`).
    """
    _, x0, _ = match_uniform(predict, supernet_cfg, target_ms)
    out: list[tuple[Arch, float, float]] = []
    seen: set[str] = set()
    for i in range(n):
        x = min(1.0, max(0.01, x0 * (1 - spread + 2 * spread * i / max(1, n - 1))))
        arch = uniform_arch(supernet_cfg, x)
        key = json.dumps(arch["channels"], sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append((arch, x, predict(arch)))
    return out


def closest_measured(measured: Sequence[float], ref_ms: float) -> int:
    """Index of the measured latency closest to `ref_ms` in relative terms."""
    if not measured:
        raise ValueError("closest_measured: no measurements")
    return min(range(len(measured)), key=lambda i: abs(measured[i] / ref_ms - 1.0))


def within_measured(measured: Sequence[float], ref_ms: float, tol: float, n: int) -> list[int]:
    """The first `n` indices (in the given order, so a random sample stays a random sample, not
    the closest-looking ones) whose measured latency is within +-tol of `ref_ms`."""
    return [i for i, m in enumerate(measured) if abs(m / ref_ms - 1.0) <= tol][:n]


def sample_matching(space: Space, predict: Predict, supernet_cfg: dict[str, Any],
                    target_ms: float, n: int, *, tol: float = 0.03, seed: int = 0,
                    max_tries: int = 2000) -> list[tuple[Arch, float]]:
    """Up to `n` (arch, predicted ms) from `space.sample`, kept only when predicted within
    +-tol of `target_ms` (rejection sampling, so they are uniform over the space's archs at that
    latency). Fewer than `n` when `max_tries` samples did not find them: a target near the
    ends of the attainable range is rare among random archs; the caller decides what that means.
    """
    rng = random.Random(seed)
    found: list[tuple[Arch, float]] = []
    for _ in range(max_tries):
        arch = space.sample(rng, **supernet_cfg)
        ms = predict(arch)
        if abs(ms / target_ms - 1.0) <= tol:
            found.append((arch, ms))
            if len(found) == n:
                break
    return found


def arch_summary(arch: Arch) -> str:
    """One line: ops per segment stage (S skip, L LIR, M MHSA) and the mean kept fraction."""
    from search_spaces.rtseg.config import channel_groups, resolve

    _, cfg = resolve(dict(arch["supernet"]), field="supernet")
    full = channel_groups(cfg)
    ops = " ".join(f"{s[3:]}:{''.join(op[0].upper() for op in seq)}"
                   for s, seq in arch["ops"].items())
    kept = [len(v) if isinstance(v, list) else int(v) for v in
            (arch["channels"].get(g, n) for g, n in full.items())]
    frac = sum(k / n for k, n in zip(kept, full.values(), strict=True)) / len(full)
    return f"{ops} w{frac:.2f}"


def inherit_subnet(space: Space, arch: Arch, supernet: nn.Module, num_classes: int) -> nn.Module:
    """`build(arch)` with the kept weights copied out of `supernet` (physically smaller)."""
    net = space.build(arch, num_classes)
    space.inherit(net, supernet, arch)
    return net


def retrain_subnet(net: nn.Module, arch: Arch, cfg: TrainConfig, data: StageData, folder: Path,
                   *, space: str, teacher: nn.Module | None, progress: bool = False
                   ) -> dict[str, Any]:
    """Fine-tune `net` into `folder` as `nas retrain` does; returns the stage summary (`miou`).

    A finished folder is reused (its weights loaded into `net`) when it trained the same arch
    under the same config; a folder of another arch or config is cleared and trained again.
    """
    from nas.runs import config_diff, load_config

    name = f"retrain {folder.name}"
    identity = {"space": space, "num_classes": data.num_classes, "stage": "retrain",
                "arch": json.loads(json.dumps(arch))}
    if (folder / "config.yaml").is_file():
        expected = {"stage": name, "train": cfg.as_dict(), **identity}
        if config_diff(load_config(folder), expected):
            shutil.rmtree(folder)
    return fit_stage(name, net, cfg, folder, data, identity=identity, resume=True,
                     progress=progress, teacher=teacher)
