"""The FFNet space as Optuna parameters: one fixed set of suggestions per trial -> one arch.

The parameter set is *static* (every trial suggests the four stage depths and widths, and a
3-stage arch simply ignores the fourth): NSGA-II's crossover and TPE's per-parameter models then
see the same dimensions in every trial, instead of conditional ones that most trials lack.
Widths are drawn per stage and sorted, so a stage is never narrower than the one before it (as in
every FFNet Table 1 backbone and in `FFNetSpace.sample`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nas.errors import UserError
from search_spaces.ffnet.arch import (
    BLOCKS,
    MAX_DEPTH,
    MAX_WIDTH,
    MIN_DEPTH,
    MIN_WIDTH,
    STEMS,
    UPSAMPLE_MODES,
    WIDTH_STEP,
    make_divisible,
    validate_arch,
)
from search_spaces.ffnet.presets import SEG_HEADS, STEM_WIDTH, UP_HEADS
from search_spaces.ffnet.space import STAGE_WIDTHS

MAX_STAGES = 4
# Table 1's deepest backbone per stage position: the default depth caps at full size.
_PAPER_CAPS = (16, 24, 28, 12)

# FFNet space sizes of the search presets (tests, a 2-core machine, the paper's full space).
SPACE_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"width_mult": 0.125, "max_depth": 2},
    "cpu": {"width_mult": 0.25, "max_depth": 3},
    "paper": {"width_mult": 1.0, "max_depth": None},
}


@dataclass(frozen=True)
class FFNetChoices:
    """Which part of the FFNet space a study searches.

    Args:
        width_mult: scales every width (stem, stages, heads), in (0, 1].
        max_depth: cap on blocks per stage; None for Table 1's deepest per stage position.
        widths: stage-width candidates at width_mult 1 (multiples of 8 in [8, 512]).
    """

    width_mult: float = 1.0
    max_depth: int | None = None
    widths: tuple[int, ...] = field(default_factory=lambda: tuple(STAGE_WIDTHS))

    def __post_init__(self) -> None:
        m = self.width_mult
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0 < m <= 1:
            raise UserError(f"--width-mult: expected a number in (0, 1], got {m!r}")
        d = self.max_depth
        if d is not None and (isinstance(d, bool) or not isinstance(d, int)
                              or not MIN_DEPTH <= d <= MAX_DEPTH):
            raise UserError(f"--max-depth: expected an integer in [{MIN_DEPTH}, {MAX_DEPTH}] "
                            f"(the FFNet space's depth range), got {d!r}")
        if not self.widths:
            raise UserError("--widths: expected at least one stage width")
        for w in self.widths:
            if isinstance(w, bool) or not isinstance(w, int) or not (
                    MIN_WIDTH <= w <= MAX_WIDTH and w % WIDTH_STEP == 0):
                raise UserError(f"--widths: {w!r} is outside the FFNet space; expected multiples "
                                f"of {WIDTH_STEP} in [{MIN_WIDTH}, {MAX_WIDTH}]")

    def caps(self) -> tuple[int, ...]:
        return _PAPER_CAPS if self.max_depth is None else (self.max_depth,) * MAX_STAGES

    def scale(self, width: int) -> int:
        return make_divisible(width * self.width_mult)

    def as_dict(self) -> dict[str, Any]:
        return {"width_mult": float(self.width_mult), "max_depth": self.max_depth,
                "widths": list(self.widths)}


Suggest = Callable[[str, Sequence[Any]], Any]


def _arch(choices: FFNetChoices, pick: Suggest, depth: Callable[[str, int], int]) -> dict[str, Any]:
    """The arch of one set of decisions: `pick` chooses among options, `depth` in [1, cap]."""
    num_stages = pick("num_stages", (3, 4))
    depths = [depth(f"depth_{i}", cap) for i, cap in enumerate(choices.caps())]
    widths = [pick(f"width_{i}", choices.widths) for i in range(MAX_STAGES)]
    up = UP_HEADS[pick("up_head", tuple(UP_HEADS))]
    seg_width, seg_kernel = SEG_HEADS[pick("seg_head", tuple(SEG_HEADS))]
    stride = pick("first_stride", (1, 2))
    arch = {
        "space": "ffnet",
        "stem": pick("stem", STEMS),
        "stem_width": choices.scale(STEM_WIDTH),
        "block": pick("block", BLOCKS),
        "depths": depths[:num_stages],
        "widths": sorted(choices.scale(w) for w in widths[:num_stages]),
        "first_stride": 2 if num_stages == 3 else stride,  # a 3-stage backbone needs 2
        "up_base": [choices.scale(c) for c in up[0]],
        "up_out": [choices.scale(c) for c in up[1]],
        "seg_width": choices.scale(seg_width),
        "seg_kernel": seg_kernel,
        "upsample": pick("upsample", UPSAMPLE_MODES),
    }
    return validate_arch(arch)


def suggest_arch(trial: Any, choices: FFNetChoices) -> dict[str, Any]:
    """Ask an Optuna trial for every decision of the space; returns the validated arch."""
    return _arch(choices, lambda name, opts: trial.suggest_categorical(name, list(opts)),
                 lambda name, cap: trial.suggest_int(name, MIN_DEPTH, cap))


def random_arch(rng: random.Random, choices: FFNetChoices) -> dict[str, Any]:
    """The same decisions drawn uniformly (benchmarks, the attainable-range estimate)."""
    return _arch(choices, lambda _n, opts: rng.choice(list(opts)),
                 lambda _n, cap: rng.randint(MIN_DEPTH, cap))


def extreme_archs(choices: FFNetChoices) -> list[dict[str, Any]]:
    """Candidates for the smallest arch: depth 1, narrowest widths, the lightest heads."""
    out = []
    for stages in (3, 4):
        for stem in STEMS:
            vals = {"num_stages": stages, "stem": stem, "block": "basic", "up_head": "C",
                    "seg_head": "C", "first_stride": 2, "upsample": "nearest"}
            vals.update({f"width_{i}": min(choices.widths) for i in range(MAX_STAGES)})
            out.append(_arch(choices, lambda n, _opts, v=vals: v[n],
                             lambda _n, _cap: MIN_DEPTH))
    return out


def predict_archs(predictor: Any, archs: list[dict[str, Any]], input_hw: tuple[int, int],
                  num_classes: int) -> np.ndarray:
    """Predicted latency (ms) of many archs: one batched predictor call over distinct blocks.

    Same result as `predictor.predict_network` (corrected sum of block predictions), but each
    distinct block is predicted once: candidates of one space share most of their blocks (20k
    random tiny FFNets hold ~400 distinct ones), so the constraint check of a batch costs about
    one arch's prediction plus a lookup per block.

    Bit-identical to `predict_nets` over `ffnet_blocks` lists: the blocks come as memoised parts
    (stem, stages, heads; see search_spaces/ffnet/blocks.py), and a part met again in the batch
    reuses the block indices found the first time, so the distinct blocks are listed, predicted
    and summed in exactly the same order without hashing every block of every candidate.
    """
    from search_spaces.ffnet.blocks import ffnet_block_parts

    hw = (int(input_hw[0]), int(input_hw[1]))
    index: dict[Any, int] = {}
    # id(part) -> (part, its block indices); holding the part keeps its id from being reused
    # should the LRU cache drop it during this call
    seen: dict[int, tuple[Any, list[int]]] = {}
    ids: list[int] = []
    sizes: list[int] = []
    for arch in archs:  # validated when made: skips `Space.blocks`'s second validation
        start = len(ids)
        for part in ffnet_block_parts(arch, hw, num_classes):
            hit = seen.get(id(part))
            if hit is None:
                hit = seen[id(part)] = (part, [index.setdefault(b, len(index)) for b in part])
            ids.extend(hit[1])
        sizes.append(len(ids) - start)
    return _sum_blocks(predictor, index, ids, sizes)


def predict_nets(predictor: Any, nets: list[list[Any]]) -> np.ndarray:
    """`predictor.predict_network(nets)` with each distinct block predicted once."""
    index: dict[Any, int] = {}
    ids = [index.setdefault(b, len(index)) for net in nets for b in net]
    return _sum_blocks(predictor, index, ids, [len(net) for net in nets])


def _sum_blocks(predictor: Any, index: dict[Any, int], ids: list[int],
                sizes: list[int]) -> np.ndarray:
    """Predict the distinct blocks of `index` in one call; corrected sum per network.

    `ids` are the networks' blocks as indices into `index`, concatenated; `sizes` their counts.
    """
    n = len(sizes)
    if not index:
        return np.zeros(n)
    distinct = list(index)
    block_ms = np.asarray(predictor.predict(distinct), dtype=np.float64)
    col = predictor.correction.op_index([b.op_key for b in distinct])
    seg = np.repeat(np.arange(n), np.array(sizes))
    rows = np.array(ids)
    s, counts, rest = predictor.correction.matrices_by_column(block_ms[rows], col[rows], seg, n)
    out = predictor.correction.apply(s, counts, rest)
    return np.where(s.sum(1) + rest > 0, out, 0.0)
