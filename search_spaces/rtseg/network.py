"""The RTSeg network (Fig. 1): detail branch, segment branch, BGA, decoder, auxiliary heads.

One class serves the supernet (full widths, mixed blocks) and the built subnets (pruned widths,
chosen ops, skipped blocks removed); `RTSegSupernet` adds the gates on top.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from latency.ops import ConvBNAct
from search_spaces.rtseg.config import STAGES, RTSegConfig, detail_groups, stage_input_group
from search_spaces.rtseg.gates import Masks, gate
from search_spaces.rtseg.layers import BGA, LIR, MHSA, ContextEmbedding, DownBlock, SegHead, Stem
from search_spaces.rtseg.mixed import MixedBlock


def make_path(op: str, cfg: RTSegConfig, stage: int, j: int, widths: dict[str, int]) -> nn.Module:
    """One mixed-block path (`lir`, `mhsa`) or the supernet's `mixed` block at `widths`."""
    s = f"seg{stage}"
    c = widths[s]
    if op == "lir":
        return LIR(c, widths[f"{s}_b{j}_lir"], s, f"{s}_b{j}_lir")
    if op == "mhsa":
        full_c = dict(zip(STAGES, cfg.stages, strict=True))[stage][0]
        return MHSA(c, cfg.attn_ratio * full_c, widths[f"{s}_b{j}_mlp"], cfg.heads, cfg.patch,
                    s, f"{s}_b{j}_mlp")
    if op == "mixed":
        return MixedBlock(make_path("lir", cfg, stage, j, widths),
                          make_path("mhsa", cfg, stage, j, widths))
    raise ValueError(f"unknown block op {op!r}")


class Stage(nn.Module):
    """A segment stage: a stride-2 down block, then the kept blocks keyed `b<j>` by position."""

    def __init__(self, down: DownBlock, blocks: dict[str, nn.Module]) -> None:
        super().__init__()
        self.down = down
        self.blocks = nn.ModuleDict(blocks)

    def forward(self, x: torch.Tensor, masks: Masks = None) -> torch.Tensor:
        x = self.down(x, masks)
        for blk in self.blocks.values():
            x = blk(x, masks)
        return x


class RTSegNet(nn.Module):
    """RTSeg at the given widths and ops.

    Args:
        cfg: the supernet config (full widths; MHSA attention width and patch come from it).
        widths: channels per gate group (see config.channel_groups).
        ops: per stage key (`seg3`...) the op of each mixed-block position: `lir`, `mhsa`,
            `skip` (no module) or `mixed` (the supernet's searchable block).
        num_classes: output classes.
    """

    def __init__(
        self, cfg: RTSegConfig, widths: dict[str, int], ops: dict[str, list[str]], num_classes: int
    ) -> None:
        super().__init__()
        self.cfg, self.ops, self.num_classes = cfg, {k: list(v) for k, v in ops.items()}, num_classes
        self.detail_groups = detail_groups(cfg)
        convs, cin = [], 3
        for name in self.detail_groups:
            stride = 2 if name.endswith("_0") else 1
            convs.append(ConvBNAct(cin, widths[name], 3, stride))
            cin = widths[name]
        self.detail = nn.ModuleList(convs)
        self.stem = Stem(3, widths["stem_conv"], widths["stem_left1"], widths["stem_left2"],
                         widths["stem_out"])
        stages = {}
        for stage in STAGES:
            s, g_in = f"seg{stage}", stage_input_group(stage)
            down = DownBlock(widths[g_in], widths[f"{s}_down"], widths[s], g_in, f"{s}_down", s)
            blocks = {f"b{j}": make_path(op, cfg, stage, j, widths)
                      for j, op in enumerate(self.ops[s]) if op != "skip"}
            stages[s] = Stage(down, blocks)
        self.segment = nn.ModuleDict(stages)
        last = f"seg{STAGES[-1]}"
        self.context = ContextEmbedding(widths[last], widths["ce_out"], last, "ce_out")
        self.bga = BGA(cin, widths["ce_out"], widths["bga_mid"], widths["bga_out"],
                       self.detail_groups[-1], "ce_out")
        self.head = SegHead(widths["bga_out"], widths["head_mid"], num_classes, "bga_out",
                            "head_mid")
        # training-only heads after each downsampling stage of the segment branch
        aux_in = ["stem_out", *(f"seg{s}" for s in STAGES)]
        self.aux_heads = nn.ModuleList(
            SegHead(widths[g], cfg.aux_head, num_classes, g, None) for g in aux_in
        )

    def masks(self) -> Masks:
        """Channel masks of the current decisions; None means every channel runs."""
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, object]:
        masks = self.masks()
        size = (x.shape[-2], x.shape[-1])
        d = x
        for conv, name in zip(self.detail, self.detail_groups, strict=True):
            d = gate(conv(d), masks, name)
        s = self.stem(x, masks)
        feats = [s]
        for stage in self.segment.values():
            s = stage(s, masks)
            feats.append(s)
        out = self.head(self.bga(d, self.context(s, masks), masks), masks, size)
        if not self.training:
            return out
        aux = [h(f, masks, size) for h, f in zip(self.aux_heads, feats, strict=True)]
        return {"out": out, "aux": aux}
