"""The FFNet arch schema: which fields an arch has and which values the space allows.

An FFNet arch is explicit about every width, so that a sampled or scaled network (width_mult)
and a paper preset are described the same way; the paper's A/B/C letters for the stem, Up-head
and Segmentation-head (FFNet Fig. 2) are only shorthands used to *make* archs (presets, sample).

    {"space": "ffnet",
     "stem": "A" | "B" | "C",          # 7x7+maxpool | two 3x3/2 | three 3x3 (FFNet Fig. 2)
     "stem_width": 64,                 # channels the stem outputs
     "block": "basic" | "bottleneck",  # residual block type of every stage
     "depths": [d1, .., dn],           # blocks per stage, n = 3 or 4 stages (Table 1)
     "widths": [w1, .., wn],           # stage widths (bottleneck: inner width, output 4x)
     "first_stride": 1 | 2,            # stride of the first stage (2: the `d` models)
     "up_base": [b4, b8, b16, b32],    # Up-head 1x1 adapter widths, one per branch
     "up_out": [o4, o8, o16, o32],     # Up-head 3x3 output widths, one per branch
     "seg_width": 512,                 # Seg-head hidden width
     "seg_kernel": 1 | 3,              # kernel of the Seg-head's classifier conv
     "upsample": "bilinear" | "nearest"}

A 3-stage backbone (FFNet §3.4) feeds the stem's output to the Up-head as its 1/4 branch, so
every arch has four branches.
"""

from __future__ import annotations

from typing import Any

from nas.errors import UserError

SPACE_NAME = "ffnet"
STEMS = ("A", "B", "C")
BLOCKS = ("basic", "bottleneck")
UPSAMPLE_MODES = ("bilinear", "nearest")
NUM_BRANCHES = 4
BOTTLENECK_EXPANSION = 4

# Bounds of the searchable space; they cover every preset of the paper's Tables 2-4.
MIN_DEPTH, MAX_DEPTH = 1, 32
WIDTH_STEP = 8
MIN_WIDTH, MAX_WIDTH = 8, 512
MAX_STEM_WIDTH = 128
MAX_SEG_WIDTH = 1024

# Optional descriptive fields that do not change the network.
_FREE_FIELDS = ("name", "meta")
_FIELDS = (
    "space", "stem", "stem_width", "block", "depths", "widths", "first_stride",
    "up_base", "up_out", "seg_width", "seg_kernel", "upsample",
)


def make_divisible(value: float, step: int = WIDTH_STEP, minimum: int = MIN_WIDTH) -> int:
    """Round a scaled width to the nearest multiple of `step` (at least `minimum`).

    Widths in multiples of 8 keep channel counts friendly to vectorised kernels and keep
    scaled archs inside the space's width grid.
    """
    return max(minimum, int(round(value / step)) * step)


def _int(key: str, value: Any, lo: int, hi: int, step: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"arch field '{key}': expected an integer, got {value!r}")
    if not lo <= value <= hi or value % step:
        what = f"a multiple of {step} in" if step > 1 else "an integer in"
        what += f" [{lo}, {hi}]"
        raise UserError(f"arch field '{key}': expected {what}, got {value}")
    return value


def _choice(key: str, value: Any, options: tuple[Any, ...]) -> Any:
    # Compare types too: JSON `true` or `2.0` must not pass for the integer 1 or 2.
    if not any(type(value) is type(o) and value == o for o in options):
        raise UserError(f"arch field '{key}': expected one of {list(options)}, got {value!r}")
    return value


def _int_list(
    arch: dict[str, Any], key: str, lengths: tuple[int, ...], lo: int, hi: int, step: int = 1
) -> list[int]:
    value = arch[key]
    if not isinstance(value, (list, tuple)) or len(value) not in lengths:
        n = " or ".join(str(n) for n in lengths)
        raise UserError(f"arch field '{key}': expected a list of {n} integers, got {value!r}")
    return [_int(f"{key}[{i}]", v, lo, hi, step) for i, v in enumerate(value)]


def validate_arch(arch: Any) -> dict[str, Any]:
    """Check every field of an FFNet arch and return it normalised (lists, known keys only).

    Raises `UserError` naming the first bad field, so that a hand-edited arch.json fails with a
    message the user can act on.
    """
    if not isinstance(arch, dict):
        raise UserError(f"arch: expected a JSON object, got {type(arch).__name__}")
    if arch.get("space") != SPACE_NAME:
        raise UserError(f"arch field 'space': expected '{SPACE_NAME}', got {arch.get('space')!r}")
    unknown = sorted(set(arch) - set(_FIELDS) - set(_FREE_FIELDS))
    if unknown:
        raise UserError(f"arch field '{unknown[0]}': unknown field; expected {list(_FIELDS)}")
    missing = [k for k in _FIELDS if k not in arch]
    if missing:
        raise UserError(f"arch field '{missing[0]}': missing")

    out: dict[str, Any] = {"space": SPACE_NAME}
    out["stem"] = _choice("stem", arch["stem"], STEMS)
    out["stem_width"] = _int("stem_width", arch["stem_width"], MIN_WIDTH, MAX_STEM_WIDTH,
                             WIDTH_STEP)
    out["block"] = _choice("block", arch["block"], BLOCKS)
    out["depths"] = _int_list(arch, "depths", (3, 4), MIN_DEPTH, MAX_DEPTH)
    out["widths"] = _int_list(arch, "widths", (3, 4), MIN_WIDTH, MAX_WIDTH, WIDTH_STEP)
    if len(out["widths"]) != len(out["depths"]):
        raise UserError(
            f"arch field 'widths': expected {len(out['depths'])} stage widths (one per entry "
            f"of 'depths'), got {len(out['widths'])}"
        )
    out["first_stride"] = _choice("first_stride", arch["first_stride"], (1, 2))
    if len(out["depths"]) == 3 and out["first_stride"] != 2:
        # The 3-stage backbone's first stage makes the 1/8 branch from the stem's 1/4 output.
        raise UserError("arch field 'first_stride': a 3-stage backbone needs 2, got 1")
    out["up_base"] = _int_list(arch, "up_base", (NUM_BRANCHES,), MIN_WIDTH, MAX_WIDTH, WIDTH_STEP)
    out["up_out"] = _int_list(arch, "up_out", (NUM_BRANCHES,), MIN_WIDTH, MAX_WIDTH, WIDTH_STEP)
    out["seg_width"] = _int("seg_width", arch["seg_width"], MIN_WIDTH, MAX_SEG_WIDTH,
                            WIDTH_STEP)
    out["seg_kernel"] = _choice("seg_kernel", arch["seg_kernel"], (1, 3))
    out["upsample"] = _choice("upsample", arch["upsample"], UPSAMPLE_MODES)
    if "name" in arch:
        if not isinstance(arch["name"], str):
            raise UserError(f"arch field 'name': expected a string, got {arch['name']!r}")
        out["name"] = arch["name"]
    if "meta" in arch:
        out["meta"] = arch["meta"]
    return out


def branch_channels(arch: dict[str, Any]) -> list[int]:
    """Channels of the four feature maps the backbone hands to the Up-head (1/4 .. 1/32)."""
    mult = BOTTLENECK_EXPANSION if arch["block"] == "bottleneck" else 1
    stages = [w * mult for w in arch["widths"]]
    return [arch["stem_width"], *stages] if len(stages) == 3 else stages
