"""Block ops shared by several spaces: `conv` (conv [+BN] [+ReLU]) and `upsample`.

Space-specific ops (`lir`, `mhsa`, `bga`, `basic`, `bottleneck`, ...) are declared by their
space's package; names are unique across the project (`register_block_op` enforces it).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from latency.blocks import BlockSpec, register_block_op


class ConvBNAct(nn.Module):
    """k x k conv (padding k//2) with optional BN and ReLU: the most common fused unit."""

    def __init__(
        self,
        cin: int,
        cout: int,
        k: int = 3,
        stride: int = 1,
        groups: int = 1,
        bn: bool = True,
        act: bool = True,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=bias)
        self.bn = nn.BatchNorm2d(cout) if bn else nn.Identity()
        self.act = nn.ReLU(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


def conv_spec(
    cin: int, cout: int, h: int, w: int, k: int = 3, stride: int = 1, groups: int = 1,
    bn: bool = True, act: bool = True, bias: bool = False,
) -> BlockSpec:
    """The BlockSpec of a `ConvBNAct` at input size h x w."""
    return BlockSpec(
        "conv", cin, cout, h, w, k=k, stride=stride, groups=groups,
        extra=(("bn", float(bn)), ("act", float(act)), ("bias", float(bias))),
    )


def _build_conv(s: BlockSpec) -> nn.Module:
    return ConvBNAct(
        s.cin, s.cout, s.k, s.stride, s.groups,
        bn=bool(s.get("bn", 1)), act=bool(s.get("act", 1)), bias=bool(s.get("bias", 0)),
    )


class Upsample(nn.Module):
    """Resize by `scale` with `mode` (bilinear uses align_corners=False unless `ac`)."""

    def __init__(self, scale: float, mode: str, align_corners: bool = False) -> None:
        super().__init__()
        self.scale, self.mode = scale, mode
        self.align_corners = align_corners if mode == "bilinear" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(
            x, scale_factor=self.scale, mode=self.mode, align_corners=self.align_corners
        )


def _build_upsample(s: BlockSpec) -> nn.Module:
    return Upsample(s.get("scale", 2.0), s.mode or "bilinear", bool(s.get("align_corners", 0)))


register_block_op("conv", _build_conv)
register_block_op("upsample", _build_upsample)
