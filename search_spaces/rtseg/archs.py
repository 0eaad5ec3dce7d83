"""RTSeg archs: validation/normalisation and uniform sampling.

An arch::

    {"space": "rtseg",
     "supernet": {"preset": "paper", "width_mult": 1.0},   # the full widths it is cut from
     "ops": {"seg3": ["lir", "skip"], "seg4": [...], "seg5": [...]},   # one per mixed block
     "channels": {"seg3": [0, 5, 7, ...], "head_mid": 512, ...}}       # kept indices or a count

A channel entry is the sorted list of kept channel indices (what `derive` writes, so `inherit`
copies exactly the channels the gates kept) or a count `k` meaning the first k channels (handy
for hand-written presets). A group left out keeps all its channels. `normalise` turns every
entry into an index list.
"""

from __future__ import annotations

import math
import random
from typing import Any

from nas.errors import UserError
from search_spaces.base import Arch
from search_spaces.rtseg.config import (
    OPS,
    RTSegConfig,
    channel_groups,
    mixed_blocks,
    resolve,
)

ALLOWED_KEYS = {"space", "supernet", "ops", "channels", "name", "description"}
MIN_KEEP = 0.25  # sample() keeps at least 25% of a group: below that accuracy collapses


def normalise(arch: Arch, cfg: RTSegConfig) -> Arch:
    """Check `ops` and `channels` against `cfg`; return them normalised."""
    extra = set(arch) - ALLOWED_KEYS
    if extra:
        raise UserError(f"arch: unknown fields {sorted(extra)}; expected {sorted(ALLOWED_KEYS)}")
    out: Arch = {"space": arch["space"], "supernet": arch.get("supernet", {})}
    for k in ("name", "description"):
        if k in arch:
            out[k] = arch[k]
    out["ops"] = _check_ops(arch.get("ops"), cfg)
    out["channels"] = _check_channels(arch.get("channels", {}), cfg)
    return out


def _check_ops(ops: Any, cfg: RTSegConfig) -> dict[str, list[str]]:
    want = mixed_blocks(cfg)
    if not isinstance(ops, dict):
        raise UserError(f"arch field 'ops': expected an object with keys {sorted(want)}")
    if set(ops) != set(want):
        raise UserError(f"arch field 'ops': expected keys {sorted(want)}, got {sorted(ops)}")
    out = {}
    for s, n in want.items():
        seq = ops[s]
        if not isinstance(seq, list) or len(seq) != n:
            got = len(seq) if isinstance(seq, list) else type(seq).__name__
            raise UserError(f"arch field 'ops.{s}': expected a list of {n} ops, got {got}")
        for j, op in enumerate(seq):
            if op not in OPS:
                raise UserError(
                    f"arch field 'ops.{s}[{j}]': unknown op {op!r}; expected one of {list(OPS)}"
                )
        out[s] = list(seq)
    return out


def _check_channels(channels: Any, cfg: RTSegConfig) -> dict[str, list[int]]:
    groups = channel_groups(cfg)
    if not isinstance(channels, dict):
        raise UserError("arch field 'channels': expected an object {group: indices or count}")
    unknown = set(channels) - set(groups)
    if unknown:
        raise UserError(f"arch field 'channels': unknown groups {sorted(unknown)}")
    out = {}
    for g, full in groups.items():
        v = channels.get(g, full)
        where = f"arch field 'channels.{g}'"
        if isinstance(v, int) and not isinstance(v, bool):
            if not 1 <= v <= full:
                raise UserError(f"{where}: {v} channels; expected 1..{full} (the supernet's)")
            out[g] = list(range(v))
            continue
        if not isinstance(v, list) or not v or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in v
        ):
            raise UserError(f"{where}: expected a count or a non-empty list of channel indices")
        if len(v) > full:
            raise UserError(f"{where}: {len(v)} channels; the supernet has {full}")
        if len(set(v)) != len(v):
            raise UserError(f"{where}: repeated channel indices")
        bad = [i for i in v if not 0 <= i < full]
        if bad:
            raise UserError(f"{where}: index {bad[0]} out of range 0..{full - 1}")
        out[g] = sorted(v)
    return out


def validate(arch: Arch) -> tuple[Arch, RTSegConfig]:
    """Validate an arch of this space (its `space` already checked) and return its config."""
    supernet, cfg = resolve(arch.get("supernet", {}))
    arch = normalise({**arch, "supernet": supernet}, cfg)
    return arch, cfg


def sample(rng: random.Random, **cfg_opts: Any) -> Arch:
    """Uniform over ops per mixed block and kept counts in [ceil(25% of full), full] per group;
    the kept indices are a uniformly random subset."""
    supernet, cfg = resolve(dict(cfg_opts), field="cfg")
    ops = {s: [rng.choice(OPS) for _ in range(n)] for s, n in mixed_blocks(cfg).items()}
    channels = {}
    for g, full in channel_groups(cfg).items():
        k = rng.randint(max(1, math.ceil(MIN_KEEP * full)), full)
        channels[g] = sorted(rng.sample(range(full), k))
    return {"space": "rtseg", "supernet": supernet, "ops": ops, "channels": channels}


def widths(arch: Arch) -> dict[str, int]:
    return {g: len(idx) for g, idx in arch["channels"].items()}
