"""Synthetic store rows from a known analytic cost model: learnability tests and benchmarks.

Not a claim about real latency: real accuracy figures come from `nas profile` measurements. The
cost model is multiplicative in the features with a per-op overhead (the shape real latencies
have), and whole networks cost more than the sum of their blocks (`network_bias`), so the
network correction has something to learn.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd

from latency.blocks import BlockSpec
from latency.ops import conv_spec

COLUMNS = ["id", "device", "kind", "op", "key", "spec", "arch", "blocks", "space", "input_shape",
           "median_ms", "p10_ms", "p90_ms", "cv", "runs", "versions", "host", "created"]


def analytic_ms(spec: BlockSpec) -> float:
    """Overhead + MACs-proportional cost; depthwise convs run at a worse MAC rate."""
    ho, wo = max(1, spec.h // spec.stride), max(1, spec.w // spec.stride)
    if spec.op == "upsample":
        s = spec.get("scale", 2.0)
        return 0.01 + 4e-9 * spec.cin * spec.h * spec.w * s * s
    macs = spec.cin * spec.cout / spec.groups * spec.k ** 2 * ho * wo
    rate = 2e-8 if spec.groups == spec.cin and spec.groups > 1 else 2e-9
    return 0.02 + rate * macs + 1e-8 * spec.cout * ho * wo


def random_block(rng: random.Random, h: int, w: int, cin: int) -> BlockSpec:
    choice = rng.random()
    if choice < 0.15:
        return BlockSpec("upsample", cin, cin, h, w, mode="bilinear", extra=(("scale", 2.0),))
    if choice < 0.35:
        return conv_spec(cin, cin, h, w, k=rng.choice([3, 5]), stride=rng.choice([1, 2]),
                         groups=cin)
    cout = rng.choice([8, 16, 24, 32, 48, 64, 96, 128])
    return conv_spec(cin, cout, h, w, k=rng.choice([1, 3, 5]), stride=rng.choice([1, 1, 2]))


def random_network(rng: random.Random, input_hw: tuple[int, int]) -> list[BlockSpec]:
    h, w = input_hw
    cin = 3
    out: list[BlockSpec] = []
    for _ in range(rng.randint(4, 10)):
        b = random_block(rng, h, w, cin)
        if b.op == "upsample" and h >= input_hw[0]:
            continue
        out.append(b)
        scale = b.get("scale", 2.0) if b.op == "upsample" else 1 / b.stride
        h, w, cin = max(1, int(h * scale)), max(1, int(w * scale)), b.cout
    return out


def _row(i: int, device: str, kind: str, ms: float, **cols: object) -> dict:
    base = {c: None for c in COLUMNS}
    base.update(id=i, device=device, kind=kind, median_ms=ms, p10_ms=ms * 0.97, p90_ms=ms * 1.03,
                cv=0.02, runs=20, versions="{}", host="synthetic", created="")
    base.update(cols)
    return base


def synthetic_rows(
    n_networks: int = 60,
    n_extra_blocks: int = 400,
    *,
    seed: int = 0,
    device: str = "toy",
    input_hw: tuple[int, int] = (64, 128),
    network_bias: float = 1.08,
    noise: float = 0.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(blocks_df, networks_df) shaped like `Store.rows(device, kind)`.

    Blocks are every block of every network plus `n_extra_blocks` random others; network
    latency is `network_bias * sum(blocks) + 0.05 ms`. `noise` is a relative Gaussian jitter.
    """
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)

    def jitter(ms: float) -> float:
        return float(ms * np.exp(noise * nrng.standard_normal())) if noise else ms

    nets = [random_network(rng, input_hw) for _ in range(n_networks)]
    extra = []
    for _ in range(n_extra_blocks):
        h = rng.choice([8, 16, 32, 64])
        extra.append(random_block(rng, h, 2 * h, rng.choice([3, 8, 16, 32, 64, 128])))
    seen: dict[tuple, BlockSpec] = {}
    for b in [b for n in nets for b in n] + extra:
        seen.setdefault(b.key(), b)
    block_rows = [
        _row(i, device, "block", jitter(analytic_ms(b)), op=b.op, key=repr(b.key()),
             spec=json.dumps(b.to_dict()), input_shape=json.dumps([1, b.cin, b.h, b.w]))
        for i, b in enumerate(seen.values())
    ]
    net_rows = []
    for i, blocks in enumerate(nets):
        ms = network_bias * sum(analytic_ms(b) for b in blocks) + 0.05
        arch = {"space": "toy", "net": i, "ops": [b.op for b in blocks]}
        net_rows.append(_row(len(block_rows) + i, device, "network", jitter(ms),
                             arch=json.dumps(arch), space="toy",
                             blocks=json.dumps([b.to_dict() for b in blocks]),
                             input_shape=json.dumps([1, 3, *input_hw])))
    return pd.DataFrame(block_rows, columns=COLUMNS), pd.DataFrame(net_rows, columns=COLUMNS)


def label_blocks(blocks: list[BlockSpec], device: str = "toy") -> pd.DataFrame:
    """Block rows for any blocks (e.g. a real space's), labelled with `analytic_ms`."""
    return pd.DataFrame(
        [_row(i, device, "block", analytic_ms(b), op=b.op, key=repr(b.key()),
              spec=json.dumps(b.to_dict())) for i, b in enumerate(blocks)],
        columns=COLUMNS)
