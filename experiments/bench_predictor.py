"""Throughput of the latency predictor: blocks/s batched, and archs/s of a network constraint check.

The searches call the predictor in their inner loop (Optuna trials, routing budgets, and every
gradient step), so it must be far cheaper than anything it guards. Usage:

    .venv/bin/python experiments/bench_predictor.py [--device cpu] [--space ffnet] [--json out.json]

With `--device` the saved predictor of that device is used; otherwise an MLP is fitted on
synthetic rows (same architecture and width, so the timing is the same). Figures on a shared
machine are preliminary.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from latency.blocks import BlockSpec  # noqa: E402
from latency.predictors import MLPPredictor, load_for_device  # noqa: E402
from latency.predictors.synthetic import (  # noqa: E402
    label_blocks,
    random_network,
    synthetic_rows,
)


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """Fastest of `repeat` runs in seconds (the least disturbed by other processes)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def networks(space: str | None, m: int, input_hw: tuple[int, int]) -> list[list[BlockSpec]]:
    if space:
        import search_spaces
        from latency.sampler import sample_networks

        cfg = search_spaces.get(space).small_cfg()
        return [b for _, b in sample_networks(space, m, 0, input_hw, cfg)]
    rng = random.Random(0)
    return [random_network(rng, input_hw) for _ in range(m)]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None, help="use the saved predictor of this device")
    ap.add_argument("--space", default=None, help="sample networks of this space (default toy)")
    ap.add_argument("--rows", type=int, default=1_000_000, help="blocks in the batched run")
    ap.add_argument("--archs", type=int, default=2000, help="networks in the constraint check")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads of the MLP")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args(argv)

    nets = networks(args.space, args.archs, (512, 1024))
    if args.device:
        pred = load_for_device(args.device)
    elif args.space:  # the space's own ops, labelled by the analytic cost model
        rows = label_blocks(list({b.key(): b for n in nets for b in n}.values()))
        pred = MLPPredictor(device="synthetic", epochs=20).fit(rows)
    else:
        blocks, synth_nets = synthetic_rows(40, 300, seed=0)
        pred = MLPPredictor(device="synthetic", epochs=20).fit(blocks, synth_nets)
    assert isinstance(pred, MLPPredictor) and pred.schema is not None
    pool = [b for n in nets for b in n if b.op_key in pred.schema.ops]
    specs = [pool[i % len(pool)] for i in range(min(args.rows, 100_000))]
    x = pred.schema.encode(specs)
    x = np.tile(x, (-(-args.rows // len(x)), 1))[:args.rows]

    t_mlp = best_of(lambda: pred.predict_features(x, threads=args.threads))
    t_specs = best_of(lambda: pred.predict(specs))
    t_nets = best_of(lambda: pred.predict_network(nets) <= 10.0)  # the constraint check
    n_blocks = sum(map(len, nets))
    out = {
        "threads": args.threads,
        "hidden": list(pred.hidden),
        "mlp_blocks_per_s": args.rows / t_mlp,
        "predict_specs_blocks_per_s": len(specs) / t_specs,
        "constraint_archs_per_s": len(nets) / t_nets,
        "blocks_per_arch": n_blocks / len(nets),
        "space": args.space or "synthetic",
    }
    print(f"MLP batched on encoded features: {out['mlp_blocks_per_s']:,.0f} blocks/s "
          f"({args.rows:,} rows, {args.threads} threads; target >= 1,000,000)")
    print(f"predict(list[BlockSpec]) incl. featurisation: "
          f"{out['predict_specs_blocks_per_s']:,.0f} blocks/s")
    print(f"network constraint check (predict_network <= target): "
          f"{out['constraint_archs_per_s']:,.0f} archs/s "
          f"({out['blocks_per_arch']:.1f} blocks/arch, {len(nets)} archs, {out['space']})")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
