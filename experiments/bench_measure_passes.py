"""How stable is a measured network latency: one profiler pass against the fastest of several.

`nas.export.measure` reports a network's fastest median over `PASSES` separate passes. This
script shows why, on the machine it runs on: it times `--nets` sampled networks of a space (CPU
preset) in `--passes` passes of `--rounds` rounds (fresh sessions each pass, the networks
interleaved), then compares how far a single pass, and the fastest of `--group` consecutive passes,
land from that network's overall fastest pass. Usage:

    .venv/bin/python experiments/bench_measure_passes.py [--space rtseg] [--nets 4] [--passes 12]

Prints a table and writes a JSON (default experiments/results/bench_measure_passes.json).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def spread(values: list[float], ref: float) -> tuple[float, float]:
    """(mean, max) of value / ref - 1 in percent: how much slower than the reference."""
    errs = [100 * (v / ref - 1) for v in values]
    return statistics.mean(errs), max(errs)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="rtseg")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--input-size", default="128x256")
    ap.add_argument("--nets", type=int, default=4, help="sampled networks")
    ap.add_argument("--passes", type=int, default=12, help="profiler passes")
    ap.add_argument("--rounds", type=int, default=10, help="rounds per pass")
    ap.add_argument("--group", type=int, default=3, help="passes per 'fastest of' figure")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="experiments/results/bench_measure_passes.json")
    args = ap.parse_args(argv)
    if args.passes < 2 * args.group:
        ap.error("--passes must be at least twice --group")

    import search_spaces
    from latency.devices import parse_input_size
    from nas.export.measure import measure_many_ms
    from nas.io import atomic_write_json

    hw = parse_input_size(args.input_size)
    space = search_spaces.get(args.space)
    cfg = space.small_cfg()
    rng = random.Random(args.seed)
    nets = [space.build(space.sample(rng, **cfg), 19).eval() for _ in range(args.nets)]
    t0 = time.perf_counter()
    passes: list[list[float]] = []
    how = ""
    for p in range(args.passes):
        times, how = measure_many_ms(nets, hw, args.device, rounds=args.rounds, passes=1)
        if times is None:
            sys.exit(f"cannot measure on '{args.device}': {how}")
        passes.append(times)
        print(f"pass {p + 1}/{args.passes}: " + " ".join(f"{t:.3f}" for t in times), flush=True)

    rows = []
    n_groups = args.passes // args.group
    for i in range(args.nets):
        series = [p[i] for p in passes]
        best = min(series)
        groups = [min(series[g * args.group:(g + 1) * args.group]) for g in range(n_groups)]
        one_mean, one_max = spread(series, best)
        grp_mean, grp_max = spread(groups, best)
        rows.append({"net": i, "fastest_ms": best, "passes_ms": series,
                     "single_pass_mean_pct": one_mean, "single_pass_max_pct": one_max,
                     f"fastest_of_{args.group}_mean_pct": grp_mean,
                     f"fastest_of_{args.group}_max_pct": grp_max})

    print(f"\n{args.space} on '{args.device}' at {hw[0]}x{hw[1]}: {args.passes} passes of "
          f"{args.rounds} rounds ({how}); % above each network's fastest pass")
    print(f"| net | fastest ms | 1 pass: mean | 1 pass: max | fastest of {args.group}: mean "
          f"| fastest of {args.group}: max |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['net']} | {r['fastest_ms']:.3f} | {r['single_pass_mean_pct']:.1f} | "
              f"{r['single_pass_max_pct']:.1f} | {r[f'fastest_of_{args.group}_mean_pct']:.1f} | "
              f"{r[f'fastest_of_{args.group}_max_pct']:.1f} |")
    out = {"space": args.space, "device": args.device, "input_size": list(hw),
           "passes": args.passes, "rounds": args.rounds, "group": args.group,
           "measured_by": how, "nets": rows,
           "single_pass_max_pct": max(r["single_pass_max_pct"] for r in rows),
           f"fastest_of_{args.group}_max_pct": max(r[f"fastest_of_{args.group}_max_pct"]
                                                    for r in rows),
           "time_s": round(time.perf_counter() - t0, 1)}
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, out)
    print(f"wrote {path} ({out['time_s']} s)")
    return out


if __name__ == "__main__":
    main()
