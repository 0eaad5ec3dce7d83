"""`FFNet`: the network an FFNet arch describes (FFNet Fig. 1 / Fig. 4).

stem -> 3 or 4 residual stages -> Up-head (per-branch 1x1 adapters, top-down 1x1 + resize + add,
per-branch 3x3 outputs, resize + concat) -> Seg-head (3x3 + BN + ReLU, then the classifier).
The logits come out at the finest branch's resolution (1/4 or 1/8); the caller upsamples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from latency.ops import ConvBNAct
from search_spaces.ffnet.arch import BOTTLENECK_EXPANSION, NUM_BRANCHES, branch_channels
from search_spaces.ffnet.layers import BasicBlock, Bottleneck, UpAdd, UpCat, stem_layers


@dataclass(frozen=True)
class ResidualPlan:
    """One residual block of the backbone: what `build` and `blocks` both construct."""

    block: str
    cin: int
    cout: int
    mid: int
    stride: int


def backbone_plan(arch: dict[str, Any]) -> list[list[ResidualPlan]]:
    """The residual blocks of every stage, in order; the first block of a stage strides."""
    expand = BOTTLENECK_EXPANSION if arch["block"] == "bottleneck" else 1
    cin = arch["stem_width"]
    stages = []
    for i, (depth, width) in enumerate(zip(arch["depths"], arch["widths"], strict=True)):
        stride = arch["first_stride"] if i == 0 else 2
        cout = width * expand
        blocks = []
        for j in range(depth):
            blocks.append(ResidualPlan(arch["block"], cin, cout, width, stride if j == 0 else 1))
            cin = cout
        stages.append(blocks)
    return stages


def residual_block(plan: ResidualPlan) -> nn.Module:
    if plan.block == "basic":
        return BasicBlock(plan.cin, plan.cout, plan.stride)
    return Bottleneck(plan.cin, plan.mid, plan.cout, plan.stride)


class UpHead(nn.Module):
    """FFNet's Up-head over four branches (finest first).

    Per branch a 1x1 adapter to the base width; from the coarsest branch down, a 1x1 lateral
    conv to the next base width, resize, add the finer adapter output; a 3x3 conv per branch
    gives its output; all outputs are resized to the finest size and concatenated.
    """

    def __init__(self, in_chs: list[int], base: list[int], out: list[int], mode: str) -> None:
        super().__init__()
        self.adapters = nn.ModuleList(ConvBNAct(c, b, 1) for c, b in zip(in_chs, base, strict=True))
        self.smooth = nn.ModuleList(ConvBNAct(b, o, 3) for b, o in zip(base, out, strict=True))
        # lateral[i] brings branch i+1 (coarser) to branch i's base width.
        self.lateral = nn.ModuleList(
            ConvBNAct(base[i + 1], base[i], 1) for i in range(NUM_BRANCHES - 1)
        )
        self.merge = nn.ModuleList(UpAdd(mode) for _ in range(NUM_BRANCHES - 1))
        self.concat = UpCat(mode)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        f = [adapter(x) for adapter, x in zip(self.adapters, feats, strict=True)]
        x = f[-1]
        outs = [self.smooth[-1](x)]
        for i in range(NUM_BRANCHES - 2, -1, -1):
            x = self.merge[i](self.lateral[i](x), f[i])
            outs.insert(0, self.smooth[i](x))
        return self.concat(*outs)


def seg_head(cin: int, width: int, kernel: int, num_classes: int) -> nn.Sequential:
    """3x3 conv (+bias) BN ReLU, then the classifier conv (+bias); no upsampling inside."""
    return nn.Sequential(
        ConvBNAct(cin, width, 3, bias=True),
        ConvBNAct(width, num_classes, kernel, bn=False, act=False, bias=True),
    )


class FFNet(nn.Module):
    """A standalone FFNet built from a validated arch (see search_spaces/ffnet/arch.py)."""

    def __init__(self, arch: dict[str, Any], num_classes: int) -> None:
        super().__init__()
        self.three_stage = len(arch["depths"]) == 3
        self.stem = nn.Sequential(*stem_layers(arch["stem"], arch["stem_width"]))
        self.stages = nn.ModuleList(
            nn.Sequential(*(residual_block(p) for p in stage)) for stage in backbone_plan(arch)
        )
        self.up_head = UpHead(branch_channels(arch), arch["up_base"], arch["up_out"],
                              arch["upsample"])
        self.seg_head = seg_head(sum(arch["up_out"]), arch["seg_width"], arch["seg_kernel"],
                                 num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        # FFNet §3.4: a 3-stage backbone hands the stem output to the Up-head as its 1/4 branch.
        feats = [x] if self.three_stage else []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return self.seg_head(self.up_head(feats))
