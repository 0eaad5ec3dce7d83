"""The searchable RTSeg supernet: DWBC gates (width search) and Gumbel logits (block search).

Implements the `Supernet` protocol of search_spaces/base.py: `derive`, `set_arch`,
`latency_terms`, plus `arch_parameters` / `weight_parameters` (separate optimizer groups) and
`set_tau` / `set_mode` for the search driver.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn as nn

from latency.blocks import SoftBlock
from nas.errors import UserError
from search_spaces.base import Arch
from search_spaces.rtseg.archs import MIN_KEEP
from search_spaces.rtseg.config import OPS, RTSegConfig, channel_groups, mixed_blocks
from search_spaces.rtseg.gates import GATE_INIT, Masks, ste_binarize
from search_spaces.rtseg.mixed import MixedBlock
from search_spaces.rtseg.network import RTSegNet

MODES = ("plain", "search")


class RTSegSupernet(RTSegNet):
    """RTSeg at full width with every mixed block searchable.

    Args:
        cfg: full widths. supernet_cfg: the `{"preset", "width_mult"}` that named `cfg` (written
            into derived archs). num_classes: output classes.

    Starts in `plain` mode (all channels, LIR everywhere: supernet pretraining); the gradient
    driver calls `set_mode("search")`.
    """

    def __init__(self, cfg: RTSegConfig, supernet_cfg: dict[str, Any], num_classes: int) -> None:
        groups = channel_groups(cfg)
        ops = {s: ["mixed"] * n for s, n in mixed_blocks(cfg).items()}
        super().__init__(cfg, groups, ops, num_classes)
        self.supernet_cfg = dict(supernet_cfg)
        self.group_sizes = groups
        # the floor `sample()` and the attainable range use: at least MIN_KEEP of every group
        self.floor = {g: max(1, math.ceil(MIN_KEEP * n)) for g, n in groups.items()}
        self.min_keep = dict(self.floor)
        # one DWBC weight vector c_l per dependency group (RTSeg eq. 3-4)
        self.gates = nn.ParameterDict(
            {g: nn.Parameter(torch.full((n,), GATE_INIT)) for g, n in groups.items()}
        )
        self.mode = "plain"

    # ------------------------------------------------------------------------- search state
    def mixed(self) -> dict[tuple[str, int], MixedBlock]:
        return {(s, int(k[1:])): blk for s, stage in self.segment.items()
                for k, blk in stage.blocks.items()}

    def set_mode(self, mode: str) -> None:
        """`plain` freezes every gate open and every choice to LIR; `search` uses them."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        for blk in self.mixed().values():
            blk.mode = mode

    def set_tau(self, tau: float) -> None:
        """Gumbel-softmax temperature (the driver anneals it)."""
        for blk in self.mixed().values():
            blk.tau = float(tau)

    def arch_parameters(self) -> Iterator[nn.Parameter]:
        """Gates c and choice logits: the architecture, optimised apart from the weights."""
        yield from self.gates.values()
        for blk in self.mixed().values():
            yield blk.logits

    def weight_parameters(self) -> Iterator[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return (p for p in self.parameters() if id(p) not in arch)

    def masks(self) -> Masks:
        if self.mode == "plain":
            return None
        return {g: ste_binarize(c, min_keep=self.min_keep[g]) for g, c in self.gates.items()}

    # ------------------------------------------------------------------------ arch hand-off
    def derive(self) -> Arch:
        """Kept channel indices per group (c > T_h, floored at `min_keep` largest: the very
        channels `masks()` keeps) and argmax ops."""
        channels: dict[str, list[int]] = {}
        for g, c in self.gates.items():
            if self.mode == "plain":
                keep = torch.arange(c.numel())
            else:
                keep = torch.nonzero(ste_binarize(c.detach(), min_keep=self.min_keep[g])).flatten()
            channels[g] = [int(i) for i in keep]
        ops = {s: ["lir"] * n for s, n in mixed_blocks(self.cfg).items()}
        if self.mode == "search":
            for (s, j), blk in self.mixed().items():
                ops[s][j] = blk.choice()
        return {"space": "rtseg", "supernet": dict(self.supernet_cfg), "ops": ops,
                "channels": channels}

    @torch.no_grad()
    def set_arch(self, arch: Arch) -> None:
        """Fix gates (c = 1 kept, 0 pruned) and logits (one-hot x 10) to `arch`; search mode.

        In eval mode the supernet then computes what `build(arch)` + `inherit` computes, and
        `derive()` returns `arch` again.
        """
        from search_spaces.rtseg.archs import validate

        arch, cfg = validate(arch)
        if cfg != self.cfg:
            raise UserError(
                f"arch field 'supernet': {arch['supernet']} is not this supernet's "
                f"{self.supernet_cfg}"
            )
        for g, c in self.gates.items():
            c.zero_()
            c[torch.tensor(arch["channels"][g], dtype=torch.long)] = 1.0
            # an arch below the search's floor (hand-written, or from an older nas) is kept as is
            self.min_keep[g] = min(self.floor[g], len(arch["channels"][g]))
        for (s, j), blk in self.mixed().items():
            blk.logits.copy_(10.0 * torch.eye(len(OPS))[OPS.index(arch["ops"][s][j])])
        self.set_mode("search")

    # ---------------------------------------------------------------------------- latency
    def latency_terms(self, input_hw: tuple[int, int]) -> list[SoftBlock]:
        """Full-width block specs with expected kept channels and path probabilities (eq. 9).

        Counts are sums of the STE-binarised gates (exact counts, gradient to c through eq. 6);
        paths inside mixed blocks carry `prob` = softmax(logits) of their op.
        """
        from search_spaces.rtseg.blocks import plan

        kept = {g: ste_binarize(c, min_keep=self.min_keep[g]).sum() for g, c in self.gates.items()}
        probs = {key: blk.probs() for key, blk in self.mixed().items()}
        terms = []
        for pb in plan(self.cfg, self.group_sizes, self.ops, input_hw, self.num_classes):
            soft: dict[str, torch.Tensor] = {}
            if pb.cin:
                soft["cin"] = kept[pb.cin]
            if pb.cout:
                soft["cout"] = kept[pb.cout]
            if pb.hidden:
                soft["expansion"] = kept[pb.hidden] / kept[pb.cin or pb.cout].clamp(min=1.0)
            soft.update({k: kept[g] for k, g in pb.extras.items()})
            prob: torch.Tensor | float = 1.0
            if pb.choice is not None:
                s, j, i = pb.choice
                prob = probs[(s, j)][i]
            terms.append(SoftBlock(pb.spec, soft, prob))
        return terms
