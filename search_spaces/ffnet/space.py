"""`FFNetSpace`: the FFNet width/depth space (FFNet §3.2, §3.4), searched by Optuna.

The space spans Table 1's dimensions and the Fig. 2 choices: per-stage depths and widths, block
type, 3 or 4 stages, the first stage's stride, the stem / Up-head / Seg-head types and the
upsampling mode. There is no supernet: each trial builds and trains its own network.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, ClassVar

import torch.nn as nn

from nas.errors import UserError
from search_spaces.base import Arch, Space
from search_spaces.ffnet.arch import (
    BLOCKS,
    MAX_DEPTH,
    MIN_DEPTH,
    SPACE_NAME,
    STEMS,
    UPSAMPLE_MODES,
    make_divisible,
    validate_arch,
)
from search_spaces.ffnet.blocks import ffnet_blocks
from search_spaces.ffnet.network import FFNet
from search_spaces.ffnet.presets import PRESETS, SEG_HEADS, STEM_WIDTH, UP_HEADS

if TYPE_CHECKING:
    from latency.blocks import BlockSpec

# Stage-width candidates at width_mult 1: the union of Table 1's stage widths.
STAGE_WIDTHS = (64, 96, 128, 160, 192, 256, 320, 512)
# Default per-stage depth caps when sampling: Table 1's deepest backbone per stage position.
DEFAULT_MAX_DEPTHS = {3: (16, 24, 20), 4: (16, 18, 28, 12)}
DEFAULT_NUM_CLASSES = 19
_CFG_KEYS = ("width_mult", "max_depth", "num_stages", "block")


class FFNetSpace(Space):
    """FFNet (Mehta et al., "Simple and Efficient Architectures for Semantic Segmentation")."""

    name: ClassVar[str] = SPACE_NAME

    def validate(self, arch: Arch) -> Arch:
        return validate_arch(arch)

    def small_cfg(self) -> dict[str, Any]:
        """Eighth-width, at most 2 blocks a stage: a few hundred thousand parameters."""
        return {"width_mult": 0.125, "max_depth": 2}

    def presets(self) -> dict[str, Arch]:
        return {name: dict(p.arch) for name, p in PRESETS.items()}

    def sample(self, rng: random.Random, **cfg: Any) -> Arch:
        """A random arch: every decision drawn uniformly and independently.

        Args (cfg):
            width_mult: scales every width (stem, stages, heads), in (0, 1]; default 1.
            max_depth: cap on blocks per stage; default Table 1's deepest per stage.
            num_stages: fix 3 or 4 stages; default drawn.
            block: fix `basic` or `bottleneck`; default drawn.
        """
        unknown = sorted(set(cfg) - set(_CFG_KEYS))
        if unknown:
            raise UserError(f"ffnet sample option '{unknown[0]}': unknown; expected {_CFG_KEYS}")
        mult = cfg.get("width_mult", 1.0)
        if isinstance(mult, bool) or not isinstance(mult, (int, float)) or not 0 < mult <= 1:
            raise UserError(f"ffnet option 'width_mult': expected a number in (0, 1], got {mult!r}")
        num_stages = cfg.get("num_stages") or rng.choice((3, 4))
        if num_stages not in (3, 4):
            raise UserError(f"ffnet option 'num_stages': expected 3 or 4, got {num_stages!r}")
        block = cfg.get("block") or rng.choice(BLOCKS)
        if block not in BLOCKS:
            raise UserError(f"ffnet option 'block': expected one of {list(BLOCKS)}, got {block!r}")
        caps = self._depth_caps(num_stages, cfg.get("max_depth"))

        def scale(width: int) -> int:
            return make_divisible(width * mult)

        # Widths never shrink from one stage to the next (as in every Table 1 backbone).
        widths = sorted(scale(rng.choice(STAGE_WIDTHS)) for _ in range(num_stages))
        base, out = UP_HEADS[rng.choice(tuple(UP_HEADS))]
        seg_width, seg_kernel = SEG_HEADS[rng.choice(tuple(SEG_HEADS))]
        arch = {
            "space": SPACE_NAME,
            "stem": rng.choice(STEMS),
            "stem_width": scale(STEM_WIDTH),
            "block": block,
            "depths": [rng.randint(MIN_DEPTH, cap) for cap in caps],
            "widths": widths,
            "first_stride": 2 if num_stages == 3 else rng.choice((1, 2)),
            "up_base": [scale(c) for c in base],
            "up_out": [scale(c) for c in out],
            "seg_width": scale(seg_width),
            "seg_kernel": seg_kernel,
            "upsample": rng.choice(UPSAMPLE_MODES),
        }
        return validate_arch(arch)

    @staticmethod
    def _depth_caps(num_stages: int, max_depth: Any) -> tuple[int, ...]:
        if max_depth is None:
            return DEFAULT_MAX_DEPTHS[num_stages]
        if isinstance(max_depth, bool) or not isinstance(max_depth, int) or not (
            MIN_DEPTH <= max_depth <= MAX_DEPTH
        ):
            raise UserError(
                f"ffnet option 'max_depth': expected an integer in [{MIN_DEPTH}, {MAX_DEPTH}], "
                f"got {max_depth!r}"
            )
        return (max_depth,) * num_stages

    def build(self, arch: Arch, num_classes: int) -> nn.Module:
        return FFNet(validate_arch(arch), num_classes)

    def blocks(
        self, arch: Arch, input_hw: tuple[int, int], num_classes: int = DEFAULT_NUM_CLASSES
    ) -> list[BlockSpec]:
        """Latency blocks at `input_hw`; `num_classes` sizes the classifier (Cityscapes: 19)."""
        h, w = input_hw
        return ffnet_blocks(validate_arch(arch), (int(h), int(w)), num_classes)
