"""The FFNet paper's reference models (Tables 2-4) as arch presets.

Names follow the official release: `ffnet<backbone>_<d?><stem><up><seg>[_mobile]`, e.g.
`ffnet150_AAA` (GPU-large), `ffnet18_dAAC` (GPU-small: first stage stride 2),
`ffnet78S_BCC_mobile`, `ffnet46NS_CCC_mobile` (3-stage). Backbone depths and widths are Table 1's;
the stem/Up-head/Seg-head letters are Fig. 2's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from search_spaces.ffnet.arch import SPACE_NAME

_WIDE = [64, 128, 256, 512]
_SLIM = [64, 128, 192, 320]
_NARROW = [96, 160, 320]
_NARROW_SLIM = [64, 128, 256]

# Table 1: backbone name -> (block, stage depths, stage widths). The letter suffix picks the
# family: none = ResNet (stem A), S = slim (stem B), N / NS = 3-stage (stem C).
BACKBONES: dict[str, tuple[str, list[int], list[int]]] = {
    "150": ("basic", [16, 18, 28, 12], _WIDE),
    "134": ("basic", [8, 18, 28, 12], _WIDE),
    "101": ("bottleneck", [3, 4, 23, 3], _WIDE),
    "86": ("basic", [8, 12, 16, 6], _WIDE),
    "56": ("basic", [4, 8, 12, 3], _WIDE),
    "50": ("bottleneck", [3, 4, 6, 3], _WIDE),
    "34": ("basic", [3, 4, 6, 3], _WIDE),
    "18": ("basic", [2, 2, 2, 2], _WIDE),
    "150S": ("basic", [16, 18, 28, 12], _SLIM),
    "86S": ("basic", [8, 12, 16, 6], _SLIM),
    "78S": ("basic", [6, 12, 12, 8], _SLIM),
    "54S": ("basic", [5, 8, 8, 5], _SLIM),
    "40S": ("basic", [4, 5, 6, 4], _SLIM),
    "30S": ("basic", [3, 4, 4, 3], _SLIM),
    "22S": ("basic", [2, 3, 3, 2], _SLIM),
    "122N": ("basic", [16, 24, 20], _NARROW),
    "74N": ("basic", [8, 12, 16], _NARROW),
    "46N": ("basic", [6, 8, 8], _NARROW),
    "122NS": ("basic", [16, 24, 20], _NARROW_SLIM),
    "74NS": ("basic", [8, 12, 16], _NARROW_SLIM),
    "46NS": ("basic", [6, 8, 8], _NARROW_SLIM),
}

STEM_WIDTH = 64
# Fig. 2 Up-heads: letter -> (1x1 adapter "base" widths, 3x3 output widths), finest first.
UP_HEADS: dict[str, tuple[list[int], list[int]]] = {
    "A": ([64, 128, 256, 512], [128, 128, 128, 128]),
    "B": ([64, 128, 128, 256], [96, 96, 64, 32]),
    "C": ([128, 128, 128, 128], [128, 16, 16, 16]),
}
# Fig. 2 Seg-heads: letter -> (hidden width, classifier kernel).
SEG_HEADS: dict[str, tuple[int, int]] = {"A": (512, 1), "B": (256, 3), "C": (128, 1)}


@dataclass(frozen=True)
class Preset:
    """A named reference model: its arch, the input size the paper reports it at, a label."""

    name: str
    arch: dict[str, Any]
    input_hw: tuple[int, int]
    description: str


def make_arch(backbone: str, heads: str, *, first_stride: int, upsample: str) -> dict[str, Any]:
    """The arch of backbone `backbone` (Table 1) with Stem-Up-Seg letters `heads` (Fig. 2)."""
    block, depths, widths = BACKBONES[backbone]
    stem, up, seg = heads
    base, out = UP_HEADS[up]
    seg_width, seg_kernel = SEG_HEADS[seg]
    return {
        "space": SPACE_NAME, "stem": stem, "stem_width": STEM_WIDTH, "block": block,
        "depths": list(depths), "widths": list(widths),
        "first_stride": 2 if len(depths) == 3 else first_stride,
        "up_base": list(base), "up_out": list(out),
        "seg_width": seg_width, "seg_kernel": seg_kernel, "upsample": upsample,
    }


# (table, group, d-prefix, mobile, input size, [(backbone, Stem-Up-Seg), ...])
_TABLES: list[tuple[int, str, bool, bool, tuple[int, int], list[tuple[str, str]]]] = [
    (2, "GPU-large", False, False, (1024, 2048), [
        ("150", "AAA"), ("134", "AAA"), ("86", "AAA"), ("56", "AAA"), ("34", "AAA"),
        ("101", "AAA"), ("50", "AAA"), ("150", "ABB"), ("86", "ABB"), ("56", "ABB"),
        ("34", "ABB"), ("150S", "BBB"), ("86S", "BBB"),
        ("122N", "CBB"), ("74N", "CBB"), ("46N", "CBB"),
    ]),
    (3, "GPU-small", True, False, (1024, 2048), [
        ("150", "AAA"), ("134", "AAA"), ("86", "AAA"), ("56", "AAA"), ("34", "AAA"),
        ("18", "AAA"), ("101", "AAA"), ("50", "AAA"), ("150", "AAC"), ("86", "AAC"),
        ("34", "AAC"), ("18", "AAC"), ("150S", "BBB"), ("86S", "BBB"), ("34", "ABB"),
        ("18", "ABB"),
    ]),
    (4, "mobile", True, True, (1024, 2048), [
        ("78S", "BBB"), ("54S", "BBB"), ("40S", "BBB"), ("30S", "BBB"), ("22S", "BBB"),
    ]),
    (4, "mobile", False, True, (512, 1024), [
        ("78S", "BBB"), ("54S", "BBB"), ("40S", "BBB"), ("30S", "BBB"), ("22S", "BBB"),
        ("78S", "BCC"), ("54S", "BCC"), ("40S", "BCC"),
        ("122NS", "CBB"), ("74NS", "CBB"), ("46NS", "CBB"),
        ("122NS", "CCC"), ("74NS", "CCC"), ("46NS", "CCC"),
    ]),
]


def _all_presets() -> dict[str, Preset]:
    presets: dict[str, Preset] = {}
    for table, group, d, mobile, input_hw, models in _TABLES:
        for backbone, heads in models:
            name = f"ffnet{backbone}_{'d' if d else ''}{heads}{'_mobile' if mobile else ''}"
            arch = make_arch(backbone, heads, first_stride=2 if d else 1,
                             upsample="nearest" if mobile else "bilinear")
            desc = (f"FFNet ResNet-{backbone} {'-'.join(heads)}, {group}, "
                    f"{input_hw[0]}x{input_hw[1]} (FFNet Table {table})")
            presets[name] = Preset(name, arch, input_hw, desc)
    return presets


PRESETS: dict[str, Preset] = _all_presets()
