"""FFNet cut into latency blocks, and the block ops FFNet declares.

Convs (stem, Up-head adapters / laterals / outputs, Seg-head) are the shared `conv` op; FFNet adds
`basic` and `bottleneck` (one residual block each, shortcut included), `ffnet_maxpool` (stem A),
`ffnet_upadd` (Up-head resize + add) and `ffnet_upcat` (resize + concat of the four outputs).
The blocks are listed in execution order and built from the same modules as the network, so
their MACs add up to the network's exactly.
"""

from __future__ import annotations

import functools
from typing import Any

import torch.nn as nn

from latency.blocks import BlockSpec, register_block_op
from latency.ops import conv_spec
from search_spaces.ffnet.arch import BOTTLENECK_EXPANSION, NUM_BRANCHES, branch_channels
from search_spaces.ffnet.layers import (
    BasicBlock,
    Bottleneck,
    MaxPool,
    UpAdd,
    UpCat,
    stem_convs,
)
from search_spaces.ffnet.network import ResidualPlan, backbone_plan

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
# An arch's block list is a concatenation of *parts* (stem, one part per stage, the four Up-head
# adapters, then the rest of the heads), each a pure function of a few numbers. Candidates of one
# space share almost all their parts, so the parts are memoised (bounded LRU caches): a
# constraint check over thousands of candidates builds each distinct BlockSpec once instead of
# once per candidate, and `predict_archs` can index a part's blocks once per batch. The cached
# tuples hold frozen specs and every caller gets a fresh list, so the caches are invisible.
Part = tuple[BlockSpec, ...]
_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _stem_part(stem: str, width: int, h: int, w: int) -> tuple[Part, int, int]:
    """Stem blocks (FFNet Fig. 2) and the stem's output size."""
    specs: list[BlockSpec] = []
    for cin, cout, k, stride in stem_convs(stem, width):
        specs.append(conv_spec(cin, cout, h, w, k=k, stride=stride))
        h, w = _down(h, stride), _down(w, stride)
    if stem == "A":
        specs.append(BlockSpec("ffnet_maxpool", width, width, h, w, k=3, stride=2))
        h, w = _down(h, 2), _down(w, 2)
    return tuple(specs), h, w


def _residual_spec(p: ResidualPlan, h: int, w: int) -> BlockSpec:
    if p.block == "basic":
        return BlockSpec("basic", p.cin, p.cout, h, w, k=3, stride=p.stride)
    return BlockSpec("bottleneck", p.cin, p.cout, h, w, k=3, stride=p.stride,
                     expansion=p.mid / p.cin)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _stage_part(block: str, cin: int, width: int, depth: int, stride: int, h: int,
                w: int) -> tuple[Part, int, int]:
    """One backbone stage's blocks and its output size, from the network's own plan."""
    plan = backbone_plan({"block": block, "stem_width": cin, "depths": [depth],
                          "widths": [width], "first_stride": stride})[0]
    specs: list[BlockSpec] = []
    prev: ResidualPlan | None = None
    for p in plan:
        # Blocks after the first are alike (same plan, stride 1, so same input size): share
        # one frozen spec instead of holding `depth` equal copies in the cache.
        same = prev is not None and p.stride == 1 and p == prev
        specs.append(specs[-1] if same else _residual_spec(p, h, w))
        prev = p
        h, w = _down(h, p.stride), _down(w, p.stride)
    return tuple(specs), h, w


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _adapter_part(cin: int, cout: int, h: int, w: int) -> Part:
    """One Up-head 1x1 adapter."""
    return (conv_spec(cin, cout, h, w, k=1),)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _head_part(base: tuple[int, ...], out: tuple[int, ...], sizes: tuple[tuple[int, int], ...],
               mode: str, seg_width: int, seg_kernel: int, num_classes: int) -> Part:
    """The Up-head after its adapters (top-down merges, outputs, concat), then the Seg-head."""
    last = NUM_BRANCHES - 1
    specs = [conv_spec(base[last], out[last], *sizes[last], k=3)]
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
    specs.append(conv_spec(sum(out), seg_width, *sizes[0], k=3, bias=True))
    specs.append(conv_spec(seg_width, num_classes, *sizes[0], k=seg_kernel,
                           bn=False, act=False, bias=True))
    return tuple(specs)


_PARTS = (_stem_part, _stage_part, _adapter_part, _head_part)


def clear_block_caches() -> None:
    """Empty the part caches (benchmarks timing a cold start)."""
    for fn in _PARTS:
        fn.cache_clear()


def ffnet_block_parts(
    arch: dict[str, Any], input_hw: tuple[int, int], num_classes: int, *, cached: bool = True
) -> list[Part]:
    """`ffnet_blocks` as its parts, in execution order; equal inputs give the same part objects.

    `cached=False` builds every part afresh (the reference the caches are tested against).
    """
    stem, stage, adapter, head = (f if cached else f.__wrapped__ for f in _PARTS)
    part, h, w = stem(arch["stem"], arch["stem_width"], *input_hw)
    parts = [part]
    sizes = [(h, w)] if len(arch["depths"]) == 3 else []
    expand = BOTTLENECK_EXPANSION if arch["block"] == "bottleneck" else 1
    cin = arch["stem_width"]
    for i, (depth, width) in enumerate(zip(arch["depths"], arch["widths"], strict=True)):
        # as backbone_plan: the first stage strides by first_stride, the others by 2
        part, h, w = stage(arch["block"], cin, width, depth, arch["first_stride"] if i == 0 else 2,
                           h, w)
        parts.append(part)
        sizes.append((h, w))
        cin = width * expand
    base = arch["up_base"]
    for c, b, (bh, bw) in zip(branch_channels(arch), base, sizes, strict=True):
        parts.append(adapter(c, b, bh, bw))
    parts.append(head(tuple(base), tuple(arch["up_out"]), tuple(sizes), arch["upsample"],
                      arch["seg_width"], arch["seg_kernel"], num_classes))
    return parts


def ffnet_blocks(
    arch: dict[str, Any], input_hw: tuple[int, int], num_classes: int, *, cached: bool = True
) -> list[BlockSpec]:
    """The validated `arch` at input size `input_hw` as latency blocks, in execution order.

    `num_classes` sizes the classifier conv, the one block whose cost depends on the dataset.
    """
    return [b for part in ffnet_block_parts(arch, input_hw, num_classes, cached=cached)
            for b in part]
