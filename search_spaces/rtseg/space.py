"""`RTSegSpace`: the RTSeg search space (width + block search on a BiSeNet-style supernet)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from latency.blocks import BlockSpec
from nas.errors import UserError
from search_spaces.base import Arch, Space
from search_spaces.rtseg import archs
from search_spaces.rtseg.blocks import plan
from search_spaces.rtseg.config import STAGES, resolve
from search_spaces.rtseg.mixed import MixedBlock
from search_spaces.rtseg.network import RTSegNet
from search_spaces.rtseg.slicing import copy_cba, full
from search_spaces.rtseg.supernet import RTSegSupernet

PRESET_DIR = Path(__file__).parent / "presets"


class RTSegSpace(Space):
    """RTSeg (Li et al.): DWBC width search and Gumbel block search over {skip, LIR, MHSA}.

    Size options (`supernet`, `sample`): `preset` (`paper`: Table 1's supernet; `tiny`: CPU
    tests) and `width_mult`.
    """

    name = "rtseg"

    def validate(self, arch: Arch) -> Arch:
        return archs.validate(self.check_space(arch))[0]

    def sample(self, rng: random.Random, **cfg: Any) -> Arch:
        return archs.sample(rng, **cfg)

    def small_cfg(self) -> dict[str, Any]:
        return {"preset": "tiny"}

    def presets(self) -> dict[str, Arch]:
        """The arch files in presets/ (rtseg-s, rtseg-m, rtseg-l), by name."""
        return {p.stem: json.loads(p.read_text()) for p in sorted(PRESET_DIR.glob("*.json"))}

    def supernet(self, num_classes: int, **cfg: Any) -> RTSegSupernet:
        supernet_cfg, config = resolve(dict(cfg), field="cfg")
        return RTSegSupernet(config, supernet_cfg, num_classes)

    def build(self, arch: Arch, num_classes: int) -> RTSegNet:
        """A plain network: pruned widths, chosen ops, skipped blocks removed, no gates.

        The zero-gated channels are physically absent (RTSeg eq. 5), so it exports as it is.
        """
        arch, cfg = archs.validate(self.check_space(arch))
        return RTSegNet(cfg, archs.widths(arch), arch["ops"], num_classes)

    @torch.no_grad()
    def inherit(self, subnet: nn.Module, supernet: nn.Module, arch: Arch) -> None:
        """Copy the kept channels (weights and BN statistics) of `supernet` into `subnet`."""
        arch, cfg = archs.validate(self.check_space(arch))
        if not isinstance(subnet, RTSegNet) or not isinstance(supernet, RTSegNet):
            raise UserError("inherit: expected an RTSeg subnet and an RTSeg supernet")
        if supernet.cfg != cfg:
            raise UserError(f"arch field 'supernet': {arch['supernet']} is not the supernet's")
        idx = {g: torch.tensor(v, dtype=torch.long) for g, v in arch["channels"].items()}
        prev = full(3)
        for dst, src, g in zip(subnet.detail, supernet.detail, subnet.detail_groups, strict=True):
            copy_cba(dst, src, idx[g], prev)
            prev = idx[g]
        subnet.stem.inherit_from(supernet.stem, idx)
        for stage in STAGES:
            s = f"seg{stage}"
            dst_stage, src_stage = subnet.segment[s], supernet.segment[s]
            dst_stage.down.inherit_from(src_stage.down, idx)
            for key, blk in dst_stage.blocks.items():
                src_blk = src_stage.blocks[key]
                if isinstance(src_blk, MixedBlock):
                    src_blk = src_blk.lir if arch["ops"][s][int(key[1:])] == "lir" else src_blk.mhsa
                blk.inherit_from(src_blk, idx)
        subnet.context.inherit_from(supernet.context, idx)
        subnet.bga.inherit_from(supernet.bga, idx)
        subnet.head.inherit_from(supernet.head, idx)
        for dst, src in zip(subnet.aux_heads, supernet.aux_heads, strict=True):
            dst.inherit_from(src, idx)

    def blocks(
        self, arch: Arch, input_hw: tuple[int, int], num_classes: int = 19
    ) -> list[BlockSpec]:
        arch, cfg = archs.validate(self.check_space(arch))
        hw = (int(input_hw[0]), int(input_hw[1]))
        return [pb.spec for pb in plan(cfg, archs.widths(arch), arch["ops"], hw, num_classes)]
