"""Which figure of a measurement reproduces on a shared host: the median, the median divided by a
calibration block, or the fastest round median (latency/statistic.py)?

The profiler times one small fixed conv (~1 MMAC, 32 KB of activations) in every round. On this
2-core host slow phases scale items unevenly (repeats of routing blocks ran 0.70x while the
calibration ran 0.91x). This script times `--blocks` stored block specs of the device, spread
over their latency range, in `--passes` separate passes (fresh sessions), next to calibration
candidates from 32 KB to 2 MB of activations (`CANDIDATES`), all in the same interleaved rounds.
Per block it reports the pass-to-pass error (mean |pass / median of passes - 1|) of the plain
median, of the median divided by each candidate's speed in that pass, and of the pass's fastest
round median. Then it reads the store: how far apart the repeated rows of one item lie, for the
stored median and for the fastest round median. Usage:

    NAS_HOME=runs/latency-home .venv/bin/python experiments/bench_calib_tracking.py \
        [--blocks 24] [--passes 10]

Prints the tables and writes a JSON (default experiments/results/bench_calib_tracking.json).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# name -> (cin, cout, h, w): the profiler's own calibration conv first, then larger ones.
CANDIDATES: dict[str, tuple[int, int, int, int]] = {
    "conv32@16 (current)": (32, 32, 16, 16),
    "conv64@32": (64, 64, 32, 32),
    "conv64@64": (64, 64, 64, 64),
    "conv128@64": (128, 128, 64, 64),
}


def pass_error(values: list[float]) -> float:
    """Mean |pass / median of passes - 1| in percent."""
    med = statistics.median(values)
    return 100 * statistics.mean(abs(v / med - 1) for v in values)


def store_agreement(device: str, store: str | None) -> dict[str, dict]:
    """How far apart the stored rows of one item (a block key or an arch, repeats `key#n`
    included) lie, for the stored median and for the fastest round median."""
    from latency.store import base_key
    from nas.cli.cmd_predictor import load_rows

    out = {}
    for kind, rows in zip(("blocks", "networks"), load_rows(device, store), strict=True):
        rows = rows.assign(item=lambda d: d["key"].map(base_key))  # load_rows: fast median_ms
        rows = rows[rows.groupby("item")["item"].transform("size") >= 2]
        if len(rows) == 0:
            continue
        out[kind] = {"items": int(rows["item"].nunique())}
        for col, name in (("stored_median_ms", "median_ms"), ("median_ms", "fast_ms")):
            g = rows.groupby("item")[col]
            s = 100 * (g.max() / g.min() - 1)
            out[kind][name] = [float(s.median()), float(s.mean()), float(s.quantile(0.9))]
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--blocks", type=int, default=24, help="stored blocks to time")
    ap.add_argument("--passes", type=int, default=10)
    ap.add_argument("--max-ms", type=float, default=5.0, help="leave out slower stored blocks")
    ap.add_argument("--store", default=None, help="default $NAS_HOME/latency.db")
    ap.add_argument("--json", default="experiments/results/bench_calib_tracking.json")
    args = ap.parse_args(argv)

    import numpy as np

    from latency.devices import get_device
    from latency.features import specs_from_rows
    from latency.ops import conv_spec
    from latency.profilers import get_profiler
    from latency.statistic import fast_ms
    from nas.cli.cmd_predictor import load_rows
    from nas.io import atomic_write_json

    rows, _ = load_rows(args.device, args.store)
    # picked by the stored median (load_rows' median_ms is the fast figure)
    rows = rows[rows["stored_median_ms"] <= args.max_ms].drop_duplicates("key")
    rows = rows.sort_values("stored_median_ms").reset_index(drop=True)
    pick = np.unique(np.linspace(0, len(rows) - 1, args.blocks).round().astype(int))
    specs = specs_from_rows(rows.iloc[pick])
    cands = {name: conv_spec(*shape) for name, shape in CANDIDATES.items()}
    items = list(specs) + list(cands.values())
    profiler = get_profiler(get_device(args.device))

    t0 = time.perf_counter()
    passes: list[list[float]] = []  # pass -> item -> median ms
    fastest: list[list[float]] = []
    for p in range(args.passes):
        ms = profiler.measure_many(items)
        passes.append([m.median_ms for m in ms])
        fastest.append([fast_ms(m.median_ms, m.extra) for m in ms])
        print(f"pass {p + 1}/{args.passes}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    arr = np.array(passes)  # (passes, items)
    n = len(specs)
    block_ms = np.median(arr[:, :n], axis=0)

    fast = np.array(fastest)  # (passes, items): each pass's fastest round median
    ways: dict[str, np.ndarray] = {"raw": arr[:, :n], "fastest round median": fast[:, :n]}
    for j, name in enumerate(cands):
        c = arr[:, n + j]
        ways[f"/ {name}"] = arr[:, :n] / c[:, None] * np.median(c)
    # Per block, the candidate nearest in latency (log distance): a size-matched calibration.
    cand_med = np.median(arr[:, n:], axis=0)
    nearest = np.abs(np.log(block_ms[:, None]) - np.log(cand_med[None, :])).argmin(1)
    c_near = arr[:, n + nearest]
    ways["/ nearest candidate"] = arr[:, :n] / c_near * np.median(c_near, axis=0)

    table = {}
    for name, v in ways.items():
        errs = [pass_error(list(v[:, i])) for i in range(n)]
        small = [e for e, b in zip(errs, block_ms, strict=True) if b < np.median(block_ms)]
        large = [e for e, b in zip(errs, block_ms, strict=True) if b >= np.median(block_ms)]
        table[name] = {"mean_pct": statistics.mean(errs), "p90_pct": float(np.percentile(errs, 90)),
                       "small_blocks_pct": statistics.mean(small),
                       "large_blocks_pct": statistics.mean(large)}
    speed = arr[:, n] / np.median(arr[:, n])
    print(f"\n{n} blocks ({block_ms.min():.4f}-{block_ms.max():.3f} ms), {args.passes} passes; "
          f"current calibration per pass x{speed.min():.2f}-x{speed.max():.2f} of its median\n")
    print(f"{'pass-to-pass error of a block':34s} {'mean %':>7s} {'p90 %':>7s} "
          f"{'small %':>8s} {'large %':>8s}")
    for name, t in table.items():
        print(f"{name:34s} {t['mean_pct']:7.2f} {t['p90_pct']:7.2f} {t['small_blocks_pct']:8.2f} "
              f"{t['large_blocks_pct']:8.2f}")
    agreement = store_agreement(args.device, args.store)
    print("\nrepeated rows of one stored item: max/min - 1 in %, median / mean / p90")
    for kind, t in agreement.items():
        print(f"  {kind:9s} {t['items']:5d} items   median_ms {t['median_ms'][0]:5.1f} / "
              f"{t['median_ms'][1]:5.1f} / {t['median_ms'][2]:5.1f}   fastest round median "
              f"{t['fast_ms'][0]:5.1f} / {t['fast_ms'][1]:5.1f} / {t['fast_ms'][2]:5.1f}")
    out = {"device": args.device, "store_agreement": agreement, "blocks": n, "passes": args.passes,
           "candidates": {k: {"shape": list(CANDIDATES[k]), "median_ms": float(m)}
                          for k, m in zip(CANDIDATES, cand_med, strict=True)},
           "block_ms": block_ms.tolist(), "passes_ms": arr.tolist(), "table": table,
           "time_s": round(time.perf_counter() - t0, 1)}
    atomic_write_json(Path(args.json), out)
    print(f"\nwrote {args.json} ({out['time_s']} s)")
    return out


if __name__ == "__main__":
    main()
