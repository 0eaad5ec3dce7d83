"""Block sampler: the blocks `nas profile` measures to train a device's latency predictor.

RTSeg ("Latency-Aware Constraints") generates "a sufficient amount of different candidate
building blocks in the search space" and measures them on the device. Blocks cut from random
networks alone cluster on the combinations the spaces' samplers favour, while a search (and the
soft channel counts of the gradient search) moves through every value in between. So half the
budget (by default) comes from real sampled networks and the rest from *perturbations* of those
blocks: one to three features re-drawn across the op's observed range (channels log-uniform down
to half the smallest width, spatial size by powers of two down to half the smallest, expansion, kernel, stride, extras
from their observed values), with structural ties kept (depthwise groups follow channels,
`cin == cout` ops stay square, channels stay divisible by groups and heads). Every candidate is
built on the meta device and discarded if its shapes do not work; results are de-duplicated by
`BlockSpec.key()`.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from latency.blocks import NUMERIC_FIELDS, BlockSpec
from latency.features import block_macs
from latency.predictors.split import arch_hash

CHANNELS = ("cin", "cout")
SPATIAL = ("h", "w")


def sample_networks(
    space: str, m: int, seed: int, input_hw: tuple[int, int], cfg: dict[str, Any] | None = None,
    *, num_classes: int = 19,
) -> list[tuple[dict, list[BlockSpec]]]:
    """`m` distinct random archs of `space` with their blocks at `input_hw`.

    Args:
        cfg: size options passed to `space.sample` (default: the full-size space).
        num_classes: sizes the classifier blocks; pass the classes the network is built with.
    """
    import search_spaces

    sp = search_spaces.get(space)
    rng = random.Random(seed)
    out: list[tuple[dict, list[BlockSpec]]] = []
    seen: set[str] = set()
    for _ in range(20 * m):  # tiny spaces may have fewer than m distinct archs
        if len(out) >= m:
            break
        arch = sp.sample(rng, **(cfg or {}))
        h = arch_hash(arch)
        if h not in seen:
            seen.add(h)
            out.append((arch, sp.blocks(arch, tuple(input_hw), num_classes)))
    return out


def sample_blocks(
    spaces: list[str],
    n: int,
    seed: int,
    input_hw: tuple[int, int],
    *,
    cfg: dict[str, dict[str, Any]] | None = None,
    base: Iterable[BlockSpec] = (),
    network_frac: float = 0.5,
    num_classes: int = 19,
) -> list[BlockSpec]:
    """About `n` distinct blocks from `spaces` (plus `base` blocks), split evenly per source.

    Args:
        spaces: registered space names.
        cfg: per-space size options for `space.sample` (default full size).
        base: extra seed blocks (e.g. shared `conv` ops) treated as one more source.
        network_frac: share of each source's quota taken from sampled networks as they are;
            the rest are perturbations.
        num_classes: classes of the sampled networks' classifier blocks.
    """
    rng = random.Random(seed)
    sources: list[list[BlockSpec]] = []
    quota = n // max(1, len(spaces) + bool(base))
    for i, space in enumerate(spaces):
        sources.append(_network_pool(space, quota, seed + 1000 * i, input_hw,
                                     (cfg or {}).get(space, {}), num_classes))
    base = list(base)
    if base:
        sources.append(_unique(base))
    out: dict[tuple, BlockSpec] = {}
    for i, pool in enumerate(sources):
        want = n - len(out) if i == len(sources) - 1 else quota
        if not pool or want <= 0:
            continue
        ordered = [b for b in _round_robin_by_op(pool, rng) if b.key() not in out]
        from_nets = ordered[:round(network_frac * want)]
        out.update((b.key(), b) for b in from_nets)
        extra = perturb_blocks(pool, want - len(from_nets), rng, exclude=set(out))
        out.update((b.key(), b) for b in extra)
        short = want - len(from_nets) - len(extra)  # narrow ranges: top up with real blocks
        out.update((b.key(), b) for b in ordered[len(from_nets):len(from_nets) + max(0, short)])
    return list(out.values())


def _round_robin_by_op(pool: list[BlockSpec], rng: random.Random) -> list[BlockSpec]:
    """The pool shuffled within each op and interleaved across ops, so a small quota still
    holds every op of the space (random order alone under-samples the rare ops)."""
    by_op: dict[str, list[BlockSpec]] = defaultdict(list)
    for b in pool:
        by_op[b.op_key].append(b)
    queues = [rng.sample(v, len(v)) for _, v in sorted(by_op.items())]
    return [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]


def _unique(blocks: Iterable[BlockSpec]) -> list[BlockSpec]:
    return list({b.key(): b for b in blocks}.values())


def _network_pool(
    space: str, want: int, seed: int, input_hw: tuple[int, int], cfg: dict[str, Any],
    num_classes: int = 19,
) -> list[BlockSpec]:
    """Distinct blocks of random networks, until `want` or until new networks add nothing."""
    pool: dict[tuple, BlockSpec] = {}
    stale = 0
    batch = 0
    while len(pool) < want and stale < 3:
        before = len(pool)
        for _, blocks in sample_networks(space, 8, seed + batch, input_hw, cfg,
                                         num_classes=num_classes):
            pool.update((b.key(), b) for b in blocks)
        stale = stale + 1 if len(pool) == before else 0
        batch += 1
    return list(pool.values())


# ------------------------------------------------------------------------------ perturbation
class _OpRanges:
    """Observed values of each numeric feature for one op, and the op's structural ties."""

    def __init__(self, blocks: list[BlockSpec]) -> None:
        self.values: dict[str, list[float]] = defaultdict(list)
        for b in blocks:
            for name, v in b.numeric().items():
                self.values[name].append(v)
        self.values = {k: sorted(set(v)) for k, v in self.values.items()}
        self.square = all(b.cin == b.cout for b in blocks)

    def varying(self) -> list[str]:
        """Fields worth perturbing: channels and spatial size always, others if they vary."""
        fixed = [f for f in (*CHANNELS, "h") if f in self.values]
        other = [f for f, v in self.values.items()
                 if len(v) > 1 and f not in (*CHANNELS, *SPATIAL, "groups", "heads")]
        return fixed + other

    def bounds(self, field: str) -> tuple[float, float]:
        v = self.values[field]
        if field in CHANNELS:  # soft channel counts in the search go below the smallest width
            return max(1.0, math.floor(v[0] / 2)), v[-1]
        if field == "h":  # and spatial sizes below the smallest (other input sizes, cropping)
            return max(1.0, math.floor(v[0] / 2)), v[-1]
        return v[0], v[-1]


def _round_channels(c: float, multiple: int) -> int:
    c = max(multiple, round(c / multiple) * multiple)
    return int(c)


def _set(b: BlockSpec, field: str, value: float, r: _OpRanges) -> BlockSpec:
    """`b` with `field` = value, keeping groups/heads/square ties valid."""
    if field in CHANNELS:
        depthwise = b.groups > 1 and b.groups == b.cin
        multiple = max(1, b.heads) if b.heads else 1
        if b.groups > 1 and not depthwise:
            multiple = math.lcm(multiple, b.groups)
        c = _round_channels(value, multiple)
        changes: dict[str, Any] = {field: c}
        if r.square or depthwise:
            changes.update(cin=c, cout=c)
        if depthwise:
            changes["groups"] = c
        return b.with_(**changes)
    if field in SPATIAL or field == "h":
        ratio = b.w / b.h
        h = max(1, int(value))
        return b.with_(h=h, w=max(1, round(h * ratio)))
    if field in NUMERIC_FIELDS:
        kind = type(getattr(b, field))
        return b.with_(**{field: kind(value)})
    return b.with_(extra=tuple((k, value if k == field else v) for k, v in b.extra))


def _draw(field: str, r: _OpRanges, rng: random.Random) -> float:
    lo, hi = r.bounds(field)
    if field in CHANNELS:
        return math.exp(rng.uniform(math.log(lo), math.log(hi)))
    if field == "h":  # powers of two between the observed sizes
        steps = int(math.log2(hi / lo)) if lo > 0 else 0
        return lo * 2 ** rng.randint(0, max(0, steps)) if rng.random() < 0.7 else rng.uniform(lo, hi)
    if field == "expansion" and rng.random() < 0.5:
        return round(rng.uniform(lo, hi), 2)
    return rng.choice(r.values[field])


def _valid(b: BlockSpec) -> bool:
    try:
        block_macs(b)
    except Exception:  # noqa: BLE001  (any failure to build/run means an impossible block)
        return False
    return True


def perturb_blocks(
    base: list[BlockSpec], n: int, rng: random.Random, exclude: set[tuple] | None = None
) -> list[BlockSpec]:
    """Up to `n` new valid blocks near `base`: first each feature's range ends, then random.

    The range pass sets each varying feature of each op to its lowest and highest value once,
    so the predictor's training data spans every feature's range whatever `n` is.
    """
    seen = set(exclude or ()) | {b.key() for b in base}
    by_op: dict[str, list[BlockSpec]] = defaultdict(list)
    for b in base:
        by_op[b.op_key].append(b)
    ranges = {op: _OpRanges(bs) for op, bs in by_op.items()}
    out: list[BlockSpec] = []

    def take(cand: BlockSpec) -> None:
        if len(out) < n and cand.key() not in seen and _valid(cand):
            seen.add(cand.key())
            out.append(cand)

    for op in sorted(by_op):  # range ends
        r = ranges[op]
        for field in r.varying():
            for value in r.bounds(field):
                take(_set(rng.choice(by_op[op]), field, value, r))
    ops = sorted(by_op)
    for _ in range(20 * n):
        if len(out) >= n:
            break
        op = rng.choice(ops)
        r = ranges[op]
        b = rng.choice(by_op[op])
        fields = r.varying()
        for field in rng.sample(fields, min(len(fields), rng.randint(1, 3))):
            b = _set(b, field, _draw(field, r, rng), r)
        take(b)
    return out
