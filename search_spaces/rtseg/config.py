"""Supernet sizes of the RTSeg space and the channel groups they define.

A *config* fixes the full (supernet) widths and depths; an arch picks, per channel group, which of
those channels survive and, per mixed block, which op runs. Archs record the config they came
from (`{"preset": ..., "width_mult": ...}`) so that build/inherit/validate know the full widths.

Channel groups follow Torch-Pruning's dependency groups: channels that meet at a residual add or
a concat share one DWBC gate (RTSeg eq. 3-6), so every stage of the segment branch has a single
group for its down block output and all its mixed blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from nas.errors import UserError

OPS = ("skip", "lir", "mhsa")  # mixed-block choices, in logit order (RTSeg eq. 7)
STAGES = (3, 4, 5)  # segment stages at H/8, H/16, H/32


@dataclass(frozen=True)
class RTSegConfig:
    """Full widths of one RTSeg supernet.

    Args:
        detail: per detail stage (H/2, H/4, H/8) its channels and number of 3x3 convs; the first
            conv of a stage has stride 2.
        stem: output channels of the BiSeNet stem (to H/4).
        stages: per segment stage (H/8, H/16, H/32) its channels and number of mixed blocks that
            follow its stride-2 down block.
        down_expansion: hidden width / input width of a down block (gather-expand).
        lir_expansion: hidden width / channels of a LIR path.
        mlp_ratio: MLP hidden width / channels of an MHSA path.
        attn_ratio: attention width / channels of an MHSA path (not pruned).
        heads: attention heads. patch: patch side P of the MHSA patchify (tokens of P*P*C).
        bga: width of the guided aggregation; bga_out: its output conv.
        head: hidden width of the decoder; aux_head: hidden width of the auxiliary heads.
    """

    detail: tuple[tuple[int, int], ...]
    stem: int
    stages: tuple[tuple[int, int], ...]
    down_expansion: int
    lir_expansion: int
    mlp_ratio: int
    attn_ratio: int
    heads: int
    patch: int
    bga: int
    bga_out: int
    head: int
    aux_head: int


# "paper" is sized to the RTSeg supernet of Table 1 (24.43M params, 136.0 GMACs at 512x1024).
# The paper gives no layer widths; these give 23.72M params (LIR + MHSA paths, outside aux_heads)
# and 138.3 GMACs (plain mode: LIR everywhere). tests/search_spaces/test_rtseg_counts.py checks
# both within 10%.
_PRESETS: dict[str, RTSegConfig] = {
    "paper": RTSegConfig(
        detail=((128, 2), (256, 3), (256, 3)), stem=32,
        stages=((128, 2), (192, 2), (256, 2)),
        down_expansion=6, lir_expansion=6, mlp_ratio=2, attn_ratio=1, heads=4, patch=2,
        bga=320, bga_out=320, head=1024, aux_head=128,
    ),
    # A CPU-sized supernet for tests and demos: same topology, a few channels per layer.
    "tiny": RTSegConfig(
        detail=((8, 1), (8, 2), (16, 2)), stem=8,
        stages=((8, 1), (16, 1), (16, 2)),
        down_expansion=2, lir_expansion=2, mlp_ratio=2, attn_ratio=1, heads=2, patch=2,
        bga=16, bga_out=16, head=16, aux_head=8,
    ),
}


def preset_names() -> list[str]:
    return sorted(_PRESETS)


def _scale(c: int, mult: float) -> int:
    """Scale a width and round to a multiple of 8 (4 for narrow layers), never below 4."""
    if mult == 1.0:
        return c
    step = 8 if c * mult >= 16 else 4
    return max(4, int(round(c * mult / step)) * step)


def resolve(supernet: Any, *, field: str = "supernet") -> tuple[dict[str, Any], RTSegConfig]:
    """Normalise `{"preset", "width_mult"}` and return it with the config it names."""
    if not isinstance(supernet, dict):
        raise UserError(f"arch field '{field}': expected an object with 'preset' and 'width_mult'")
    unknown = set(supernet) - {"preset", "width_mult"}
    if unknown:
        raise UserError(f"arch field '{field}': unknown keys {sorted(unknown)}")
    preset = supernet.get("preset", "paper")
    if preset not in _PRESETS:
        raise UserError(
            f"arch field '{field}.preset': unknown preset {preset!r}; known: {preset_names()}"
        )
    mult = supernet.get("width_mult", 1.0)
    if isinstance(mult, bool) or not isinstance(mult, (int, float)) or not 0.05 <= mult <= 4:
        raise UserError(f"arch field '{field}.width_mult': expected a number in [0.05, 4]")
    base = _PRESETS[preset]
    cfg = replace(
        base,
        detail=tuple((_scale(c, mult), n) for c, n in base.detail),
        stem=_scale(base.stem, mult),
        stages=tuple((_scale(c, mult), n) for c, n in base.stages),
        bga=_scale(base.bga, mult), bga_out=_scale(base.bga_out, mult),
        head=_scale(base.head, mult), aux_head=_scale(base.aux_head, mult),
    )
    return {"preset": preset, "width_mult": float(mult)}, cfg


def mixed_blocks(cfg: RTSegConfig) -> dict[str, int]:
    """Number of mixed blocks per stage key (`seg3`, `seg4`, `seg5`)."""
    return {f"seg{s}": n for s, (_, n) in zip(STAGES, cfg.stages, strict=True)}


def detail_groups(cfg: RTSegConfig) -> list[str]:
    return [f"detail{s + 1}_{i}" for s, (_, n) in enumerate(cfg.detail) for i in range(n)]


def channel_groups(cfg: RTSegConfig) -> dict[str, int]:
    """Every DWBC gate group of the supernet with its full width, in network order."""
    g: dict[str, int] = {}
    for s, (c, n) in enumerate(cfg.detail):
        for i in range(n):
            g[f"detail{s + 1}_{i}"] = c
    g.update(stem_conv=cfg.stem, stem_left1=max(1, cfg.stem // 2), stem_left2=cfg.stem,
             stem_out=cfg.stem)
    cin = cfg.stem
    for s, (c, n) in zip(STAGES, cfg.stages, strict=True):
        g[f"seg{s}_down"] = cin * cfg.down_expansion
        g[f"seg{s}"] = c
        for j in range(n):
            g[f"seg{s}_b{j}_lir"] = c * cfg.lir_expansion
            g[f"seg{s}_b{j}_mlp"] = c * cfg.mlp_ratio
        cin = c
    g.update(ce_out=cin, bga_mid=cfg.bga, bga_out=cfg.bga_out, head_mid=cfg.head)
    return g


def stage_input_group(stage: int) -> str:
    """The group of the channels that enter segment stage `stage`."""
    return "stem_out" if stage == STAGES[0] else f"seg{stage - 1}"
