"""The latency regulariser of RTSeg eq. 9 and the attainable latency range of a space.

L_reg = (sum_b S(block_b) - S_target)^2, where S is the device's MLP latency model evaluated on the
supernet's *soft* blocks: kept-channel counts are sums of STE-binarised gates and each path of a
mixed block is weighted by its Gumbel choice probability, so the gradient reaches both the DWBC
gates (eq. 6) and the choice logits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from latency.predictors import Predictor
from nas.errors import UserError
from search_spaces.base import Arch, Space


@dataclass
class LatencyLoss:
    """Callable `loss(supernet) -> (L_reg, expected_ms)` for one device, target and input size.

    Args:
        predictor: the device's differentiable latency model (`expected`).
        target_ms: S of eq. 9, at the deployment input size (not the training crop).
        input_hw: the deployment input size the blocks are resolved at.
    """

    predictor: Predictor
    target_ms: float
    input_hw: tuple[int, int]

    def expected_ms(self, supernet: nn.Module) -> torch.Tensor:
        return self.predictor.expected(supernet.latency_terms(self.input_hw))

    def __call__(self, supernet: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        ms = self.expected_ms(supernet)
        return (ms - self.target_ms) ** 2, ms  # RTSeg eq. 9


def predicted_ms(predictor: Predictor, space: Space, arch: Arch, input_hw: tuple[int, int],
                 num_classes: int) -> float:
    """Predicted whole-network latency of a concrete arch (corrected sum of blocks)."""
    blocks = space.blocks(arch, input_hw, num_classes)
    return float(predictor.predict_network([blocks])[0])


def rtseg_extremes(cfg: dict[str, Any], predictor: Predictor, input_hw: tuple[int, int],
                   num_classes: int) -> tuple[Arch, Arch]:
    """The smallest and the largest arch the RTSeg search can reach, as the predictor sees them.

    Smallest: every mixed block skipped and every group at the sampler's floor (25% of its
    channels, where the predictor has training data; the gates could go lower, but the latency
    model would be extrapolating). Largest: every channel, and in each mixed block whichever of
    LIR/MHSA the predictor finds slower.
    """
    import search_spaces
    from search_spaces.rtseg.archs import MIN_KEEP
    from search_spaces.rtseg.config import channel_groups, mixed_blocks, resolve

    space = search_spaces.get("rtseg")
    supernet_cfg, config = resolve(dict(cfg), field="supernet")
    groups = channel_groups(config)
    blocks = mixed_blocks(config)
    small = {"space": "rtseg", "supernet": supernet_cfg,
             "ops": {s: ["skip"] * n for s, n in blocks.items()},
             "channels": {g: max(1, math.ceil(MIN_KEEP * n)) for g, n in groups.items()}}
    ops = {s: ["lir"] * n for s, n in blocks.items()}
    large = {"space": "rtseg", "supernet": supernet_cfg, "ops": ops, "channels": dict(groups)}
    # each mixed block independently: the sum of blocks is monotone in each block's latency
    for s, n in blocks.items():
        for j in range(n):
            times = {}
            for op in ("lir", "mhsa"):
                trial = {**large, "ops": {k: list(v) for k, v in large["ops"].items()}}
                trial["ops"][s][j] = op
                times[op] = predicted_ms(predictor, space, trial, input_hw, num_classes)
            large["ops"][s][j] = max(times, key=times.get)  # type: ignore[arg-type]
    return space.validate(small), space.validate(large)


def attainable_range(space_name: str, cfg: dict[str, Any], predictor: Predictor,
                     input_hw: tuple[int, int], num_classes: int) -> tuple[float, float]:
    """(min_ms, max_ms): predicted latency of the smallest and the largest arch."""
    import search_spaces

    if space_name != "rtseg":
        raise UserError(f"space '{space_name}': no attainable-range rule for the gradient search")
    space = search_spaces.get(space_name)
    small, large = rtseg_extremes(cfg, predictor, input_hw, num_classes)
    return (predicted_ms(predictor, space, small, input_hw, num_classes),
            predicted_ms(predictor, space, large, input_hw, num_classes))


def check_target(target_ms: float, lo: float, hi: float, where: str) -> None:
    """Refuse a target outside [lo, hi] with the range in the message (one line)."""
    if not math.isfinite(target_ms) or target_ms <= 0:
        raise UserError(f"--target-ms: expected a positive number of milliseconds, got {target_ms}")
    if not lo <= target_ms <= hi:
        side = "below the smallest" if target_ms < lo else "above the largest"
        raise UserError(
            f"--target-ms {target_ms:g} is infeasible: {side} arch; the attainable range of "
            f"{where} is {lo:.3f}..{hi:.3f} ms (predicted)"
        )
