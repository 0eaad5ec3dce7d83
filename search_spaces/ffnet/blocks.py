"""FFNet cut into latency blocks, and the block ops FFNet declares.

Convs (stem, Up-head adapters / laterals / outputs, Seg-head) are the shared `conv` op; FFNet adds
`basic` and `bottleneck` (one residual block each, shortcut included), `ffnet_maxpool` (stem A),
`ffnet_upadd` (Up-head resize + add) and `ffnet_upcat` (resize + concat of the four outputs).
The blocks are listed in execution order and built from the same modules as the network, so
their MACs add up to the network's exactly.
"""

from __future__ import annotations

from typing import Any

import torch.nn as nn

from latency.blocks import BlockSpec, register_block_op
from latency.ops import conv_spec
from search_spaces.ffnet.arch import NUM_BRANCHES, branch_channels
from search_spaces.ffnet.layers import (
    BasicBlock,
    Bottleneck,
    MaxPool,
    UpAdd,
    UpCat,
    stem_convs,
)
from search_spaces.ffnet.network import backbone_plan

OWNER = "ffnet"


def _down(n: int, stride: int) -> int:
    """Output size of a stride-`stride` conv / pool with padding k//2: ceil(n / stride)."""
    return -(-n // stride)


# ---------------------------------------------------------------------------- block ops
def _build_basic(s: BlockSpec) -> nn.Module:
    return BasicBlock(s.cin, s.cout, s.stride)


def _bottleneck_mid(s: BlockSpec) -> int:
    # BlockSpec.expansion is hidden width / cin (latency/blocks.py).
    return int(round(s.expansion * s.cin))


def _build_bottleneck(s: BlockSpec) -> nn.Module:
    return Bottleneck(s.cin, _bottleneck_mid(s), s.cout, s.stride)


def _build_maxpool(s: BlockSpec) -> nn.Module:
    return MaxPool(s.k, s.stride)


def _build_upadd(s: BlockSpec) -> nn.Module:
    return UpAdd(s.mode)


def _upadd_inputs(s: BlockSpec) -> list[tuple[int, ...]]:
    """The coarse branch (cin, h x w), then the finer skip it is added to (cout, skip size)."""
    return [(1, s.cin, s.h, s.w), (1, s.cout, int(s.get("skip_h")), int(s.get("skip_w")))]


def _build_upcat(s: BlockSpec) -> nn.Module:
    return UpCat(s.mode)


def _upcat_inputs(s: BlockSpec) -> list[tuple[int, ...]]:
    """The finest output (cin, h x w), then the coarser ones (cat_c{i}, cat_h{i} x cat_w{i})."""
    shapes: list[tuple[int, ...]] = [(1, s.cin, s.h, s.w)]
    for i in range(1, NUM_BRANCHES):
        c, h, w = (int(s.get(f"cat_{n}{i}")) for n in "chw")
        shapes.append((1, c, h, w))
    return shapes


register_block_op("basic", _build_basic, owner=OWNER)
register_block_op("bottleneck", _build_bottleneck, owner=OWNER)
register_block_op("ffnet_maxpool", _build_maxpool, owner=OWNER)
register_block_op("ffnet_upadd", _build_upadd, inputs=_upadd_inputs, owner=OWNER)
register_block_op("ffnet_upcat", _build_upcat, inputs=_upcat_inputs, owner=OWNER)


# ------------------------------------------------------------------------ arch -> blocks
def _stem_blocks(arch: dict[str, Any], h: int, w: int) -> tuple[list[BlockSpec], int, int]:
    """Stem blocks (FFNet Fig. 2) and the stem's output size."""
    sw = arch["stem_width"]
    specs = []
    for cin, cout, k, stride in stem_convs(arch["stem"], sw):
        specs.append(conv_spec(cin, cout, h, w, k=k, stride=stride))
        h, w = _down(h, stride), _down(w, stride)
    if arch["stem"] == "A":
        specs.append(BlockSpec("ffnet_maxpool", sw, sw, h, w, k=3, stride=2))
        h, w = _down(h, 2), _down(w, 2)
    return specs, h, w


def _residual_spec(block: str, cin: int, cout: int, mid: int, stride: int, h: int,
                   w: int) -> BlockSpec:
    if block == "basic":
        return BlockSpec("basic", cin, cout, h, w, k=3, stride=stride)
    return BlockSpec("bottleneck", cin, cout, h, w, k=3, stride=stride, expansion=mid / cin)


def ffnet_blocks(
    arch: dict[str, Any], input_hw: tuple[int, int], num_classes: int
) -> list[BlockSpec]:
    """The validated `arch` at input size `input_hw` as latency blocks, in execution order.

    `num_classes` sizes the classifier conv, the one block whose cost depends on the dataset.
    """
    specs, h, w = _stem_blocks(arch, *input_hw)
    sizes = [(h, w)] if len(arch["depths"]) == 3 else []
    for stage in backbone_plan(arch):
        for p in stage:
            specs.append(_residual_spec(p.block, p.cin, p.cout, p.mid, p.stride, h, w))
            h, w = _down(h, p.stride), _down(w, p.stride)
        sizes.append((h, w))

    # Up-head (FFNet Fig. 1): adapters, then top-down from the coarsest branch.
    base, out, mode = arch["up_base"], arch["up_out"], arch["upsample"]
    for c, b, (bh, bw) in zip(branch_channels(arch), base, sizes, strict=True):
        specs.append(conv_spec(c, b, bh, bw, k=1))
    last = NUM_BRANCHES - 1
    specs.append(conv_spec(base[last], out[last], *sizes[last], k=3))
    for i in range(last - 1, -1, -1):
        specs.append(conv_spec(base[i + 1], base[i], *sizes[i + 1], k=1))
        specs.append(BlockSpec(
            "ffnet_upadd", base[i], base[i], *sizes[i + 1], mode=mode,
            extra=(("skip_h", sizes[i][0]), ("skip_w", sizes[i][1])),
        ))
        specs.append(conv_spec(base[i], out[i], *sizes[i], k=3))
    extra: list[tuple[str, float]] = []
    for i in range(1, NUM_BRANCHES):
        extra += [(f"cat_c{i}", out[i]), (f"cat_h{i}", sizes[i][0]), (f"cat_w{i}", sizes[i][1])]
    specs.append(BlockSpec("ffnet_upcat", out[0], sum(out), *sizes[0], mode=mode,
                           extra=tuple(extra)))

    # Seg-head at the finest branch's size: 3x3 (+bias) BN ReLU, then the classifier (+bias).
    specs.append(conv_spec(sum(out), arch["seg_width"], *sizes[0], k=3, bias=True))
    specs.append(conv_spec(arch["seg_width"], num_classes, *sizes[0], k=arch["seg_kernel"],
                           bn=False, act=False, bias=True))
    return specs
