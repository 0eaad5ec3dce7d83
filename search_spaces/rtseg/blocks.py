"""RTSeg cut into latency blocks (DESIGN.md, "BlockSpec") and the block ops it declares.

`plan()` walks the network once and returns, for every block, its BlockSpec and which gate
groups (and which mixed-block choice) its numbers come from. `Space.blocks` keeps the specs;
`RTSegSupernet.latency_terms` turns the roles into differentiable soft values (RTSeg eq. 9).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch.nn as nn

from latency.blocks import BlockSpec, register_block_op
from latency.ops import conv_spec
from search_spaces.rtseg.config import STAGES, RTSegConfig, detail_groups, stage_input_group
from search_spaces.rtseg.layers import BGA, LIR, MHSA, ContextEmbedding, DownBlock, SegHead, Stem

OWNER = "rtseg"


def _half(n: int) -> int:
    """Output size of a 3x3 stride-2 conv or pool with padding 1."""
    return (n + 1) // 2


@dataclass(frozen=True)
class PlannedBlock:
    """A block spec and where its searchable numbers come from.

    Args:
        spec: the block at the widths it was planned with.
        cin, cout: gate groups of its input/output channels (None: fixed, e.g. image, classes).
        hidden: gate group of the inner width that `expansion` (= hidden / cin) encodes.
        extras: extra field name -> gate group (stem inner widths, BGA's second input).
        choice: `(stage key, position, op index)` for paths inside mixed blocks.
    """

    spec: BlockSpec
    cin: str | None = None
    cout: str | None = None
    hidden: str | None = None
    extras: dict[str, str] = field(default_factory=dict)
    choice: tuple[str, int, int] | None = None


def plan(
    cfg: RTSegConfig, widths: dict[str, int], ops: dict[str, list[str]], input_hw: tuple[int, int],
    num_classes: int,
) -> list[PlannedBlock]:
    """Blocks of the network `widths`/`ops` at `input_hw`, in execution order.

    An op `mixed` yields both paths (LIR then MHSA), each tagged with its choice; `skip` none.
    """
    out: list[PlannedBlock] = []
    h, w = input_hw
    cin, g_prev = 3, None
    for g in detail_groups(cfg):
        stride = 2 if g.endswith("_0") else 1
        out.append(PlannedBlock(conv_spec(cin, widths[g], h, w, 3, stride), g_prev, g))
        if stride == 2:
            h, w = _half(h), _half(w)
        cin, g_prev = widths[g], g
    d_hw, cd, g_d = (h, w), cin, g_prev
    h, w = input_hw
    stem_extra = {"c0": "stem_conv", "l1": "stem_left1", "l2": "stem_left2"}
    out.append(PlannedBlock(
        BlockSpec("rtseg_stem", 3, widths["stem_out"], h, w, k=3, stride=4,
                  extra=tuple((k, float(widths[g])) for k, g in stem_extra.items())),
        None, "stem_out", extras=stem_extra,
    ))
    h, w = _half(_half(h)), _half(_half(w))
    for stage in STAGES:
        s, g_in = f"seg{stage}", stage_input_group(stage)
        c_in, c, hid = widths[g_in], widths[s], widths[f"{s}_down"]
        out.append(PlannedBlock(
            BlockSpec("rtseg_down", c_in, c, h, w, k=3, stride=2, expansion=hid / c_in),
            g_in, s, f"{s}_down",
        ))
        h, w = _half(h), _half(w)
        for j, op in enumerate(ops[s]):
            paths = ("lir", "mhsa") if op == "mixed" else (() if op == "skip" else (op,))
            for path in paths:
                choice = (s, j, 1 if path == "lir" else 2) if op == "mixed" else None
                out.append(_path_block(cfg, stage, j, path, c, h, w, widths, choice))
    c5 = widths[f"seg{STAGES[-1]}"]
    out.append(PlannedBlock(
        BlockSpec("rtseg_ce", c5, widths["ce_out"], h, w, k=3), f"seg{STAGES[-1]}", "ce_out"
    ))
    bga_extra = {"cs": "ce_out", "mid": "bga_mid"}
    out.append(PlannedBlock(
        BlockSpec("bga", cd, widths["bga_out"], *d_hw, k=3, extra=(
            ("cs", float(widths["ce_out"])), ("mid", float(widths["bga_mid"])),
            ("sh", float(h)), ("sw", float(w)))),
        g_d, "bga_out", extras=bga_extra,
    ))
    cb = widths["bga_out"]
    out.append(PlannedBlock(
        BlockSpec("rtseg_head", cb, num_classes, *d_hw, k=3, expansion=widths["head_mid"] / cb,
                  extra=(("out_h", float(input_hw[0])), ("out_w", float(input_hw[1])))),
        "bga_out", None, "head_mid",
    ))
    return out


def _path_block(
    cfg: RTSegConfig, stage: int, j: int, path: str, c: int, h: int, w: int,
    widths: dict[str, int], choice: tuple[str, int, int] | None,
) -> PlannedBlock:
    s = f"seg{stage}"
    if path == "lir":
        hid = f"{s}_b{j}_lir"
        spec = BlockSpec("lir", c, c, h, w, k=3, expansion=widths[hid] / c)
    else:
        hid = f"{s}_b{j}_mlp"
        full_c = dict(zip(STAGES, cfg.stages, strict=True))[stage][0]
        spec = BlockSpec("mhsa", c, c, h, w, k=cfg.patch, heads=cfg.heads,
                         expansion=widths[hid] / c,
                         extra=(("patch", float(cfg.patch)), ("attn", float(cfg.attn_ratio * full_c))))
    return PlannedBlock(spec, s, s, hid, choice=choice)


# --------------------------------------------------------------------------- block op builders
def _hidden(s: BlockSpec) -> int:
    return max(1, int(round(s.expansion * s.cin)))


def _i(s: BlockSpec, name: str) -> int:
    return int(round(s.get(name)))


def _build_stem(s: BlockSpec) -> nn.Module:
    return Stem(s.cin, _i(s, "c0"), _i(s, "l1"), _i(s, "l2"), s.cout)


def _build_down(s: BlockSpec) -> nn.Module:
    return DownBlock(s.cin, _hidden(s), s.cout, "in", "hidden", "out")


def _build_lir(s: BlockSpec) -> nn.Module:
    return LIR(s.cin, _hidden(s), "c", "hidden")


def _build_mhsa(s: BlockSpec) -> nn.Module:
    return MHSA(s.cin, _i(s, "attn"), _hidden(s), s.heads, _i(s, "patch"), "c", "mlp")


def _build_ce(s: BlockSpec) -> nn.Module:
    return ContextEmbedding(s.cin, s.cout, "in", "out")


def _build_bga(s: BlockSpec) -> nn.Module:
    return BGA(s.cin, _i(s, "cs"), _i(s, "mid"), s.cout, "d", "s")


def _bga_inputs(s: BlockSpec) -> list[tuple[int, ...]]:
    return [(1, s.cin, s.h, s.w), (1, _i(s, "cs"), _i(s, "sh"), _i(s, "sw"))]


def _build_head(s: BlockSpec) -> nn.Module:
    return SegHead(s.cin, _hidden(s), s.cout, "in", "mid", out_hw=(_i(s, "out_h"), _i(s, "out_w")))


register_block_op("rtseg_stem", _build_stem, owner=OWNER)
register_block_op("rtseg_down", _build_down, owner=OWNER)
register_block_op("lir", _build_lir, owner=OWNER)
register_block_op("mhsa", _build_mhsa, owner=OWNER)
register_block_op("rtseg_ce", _build_ce, owner=OWNER)
register_block_op("bga", _build_bga, inputs=_bga_inputs, owner=OWNER)
register_block_op("rtseg_head", _build_head, owner=OWNER)
