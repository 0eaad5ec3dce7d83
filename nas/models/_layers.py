"""Small pieces the hand-written baselines share: width scaling, resizing, weight init.

The conv unit itself is `latency.ops.ConvBNAct` (conv + BN + ReLU, padding k//2), the same module
the latency blocks profile, so a baseline and its latency blocks run identical layers.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def scaled(channels: int, width_mult: float, divisor: int = 1) -> int:
    """`channels * width_mult`, rounded to a multiple of `divisor` (at least `divisor`).

    Models use this for every width so that the paper-sized network (width_mult=1) keeps its exact
    widths and a narrow test network keeps the divisibility its layers need (STDC splits a
    module's width into 1/2, 1/4, 1/8).
    """
    if width_mult <= 0:
        raise ValueError(f"width_mult must be positive, got {width_mult}")
    value = int(channels * width_mult / divisor + 0.5) * divisor
    return max(divisor, value)


def resize_to(
    x: torch.Tensor, size: torch.Size | tuple[int, int], mode: str = "bilinear",
    align_corners: bool | None = False,
) -> torch.Tensor:
    """Resize `x` to an exact spatial size.

    Why not a fixed scale factor: at input sizes that are not multiples of 32 the 1/8 and 1/32
    feature maps are ceil-rounded separately, so "x4" would miss the partner's size by a pixel.
    """
    if mode == "nearest":
        align_corners = None
    return F.interpolate(x, size=tuple(size), mode=mode, align_corners=align_corners)


def init_conv_bn(model: nn.Module) -> None:
    """Kaiming (fan-out) convs and linears, BN weight 1 / bias 0: the init both baselines use."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
