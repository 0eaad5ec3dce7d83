"""Benchmark of the Optuna driver: TPE vs random sampling, and constraint-check throughput.

    .venv/bin/python experiments/bench_optuna.py                    # both parts, CPU-sized
    .venv/bin/python experiments/bench_optuna.py --part throughput --archs 20000
    .venv/bin/python experiments/bench_optuna.py --part samplers --trials 20 --seeds 3

1. Samplers: the real FFNet study (`run_optuna_search`: proxy training on the generated street
   scenes, latency constraint through the predictor) run with TPE and with random sampling at the
   same trial budget, for `--seeds` seeds; prints the best feasible proxy mIoU of each run and the
   mean per sampler. Proxy mIoUs of 8-step trainings are noisy: read the means, not one run.
2. Throughput: how many candidate archs per second the constraint check handles (goal >= 10k
   archs/s): `predict_archs` (memoised block parts, one batched predictor call over the distinct
   blocks) from cold caches, side by side with the same check building every arch's blocks
   afresh (the path before the caches) and with plain `predict_network`; the cached and uncached
   predictions are checked to be bit-identical.

Figures from a loaded shared machine are preliminary; rerun on a quiet one. The predictor is the
device's own (`--predictor device`, from `nas predictor train`) or an MLP fitted on analytic
latencies of FFNet blocks (`--predictor analytic`, the default: needs no profiling).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nas.search.optuna_space import SPACE_PRESETS, FFNetChoices  # noqa: E402

HW = (64, 128)


def fit_analytic_predictor(device: str, choices: FFNetChoices, hw: tuple[int, int]) -> None:
    """An MLP on analytic latencies of FFNet blocks, saved as `device`'s predictor in NAS_HOME."""
    import search_spaces
    from latency.predictors import MLPPredictor
    from latency.predictors.synthetic import label_blocks
    from nas.paths import predictor_path
    from nas.search.optuna_space import extreme_archs, random_arch

    sp = search_spaces.get("ffnet")
    rng = random.Random(0)
    archs = extreme_archs(choices) + [random_arch(rng, choices) for _ in range(60)]
    blocks = [b for a in archs for b in sp.blocks(a, hw)]
    rows = label_blocks(list({b.key(): b for b in blocks}.values()), device=device)
    MLPPredictor(device=device, epochs=150, seed=0).fit(rows).save(predictor_path(device))


def bench_throughput(device: str, choices: FFNetChoices, n: int, hw: tuple[int, int],
                     repeat: int = 3) -> dict:
    """archs/s of the driver's constraint check, before and after memoising the block parts.

    - uncached: every arch's blocks built afresh (`ffnet_blocks(cached=False)`, the path before
      the part caches), then one batched `predict_nets` call over the distinct blocks;
    - cached: `predict_archs` as the driver runs it, from *cold* caches (cleared before each
      repeat), so the figure includes building every distinct part once;
    - plain: `predictor.predict_network` on every block of the prebuilt lists, for reference.
    Each is the best of `repeat` runs (the least disturbed on a shared machine). The cached and
    uncached predictions must be bit-identical.
    """
    import numpy as np

    from latency.predictors import load_for_device
    from nas.search.optuna_space import predict_archs, predict_nets, random_arch
    from search_spaces.ffnet.blocks import clear_block_caches, ffnet_blocks

    predictor = load_for_device(device)
    rng = random.Random(0)
    archs = [random_arch(rng, choices) for _ in range(n)]
    predict_nets(predictor, [ffnet_blocks(a, hw, 19) for a in archs[:64]])  # warm-up

    def uncached() -> tuple[float, float, np.ndarray, list]:
        t0 = time.perf_counter()
        nets = [ffnet_blocks(a, hw, 19, cached=False) for a in archs]
        t1 = time.perf_counter()
        ms = predict_nets(predictor, nets)
        return t1 - t0, time.perf_counter() - t1, ms, nets

    def cached() -> tuple[float, np.ndarray]:
        clear_block_caches()
        t0 = time.perf_counter()
        ms = predict_archs(predictor, archs, hw, 19)
        return time.perf_counter() - t0, ms

    before = min((uncached() for _ in range(repeat)), key=lambda r: r[0] + r[1])
    after = min((cached() for _ in range(repeat)), key=lambda r: r[0])
    nets = before[3]
    t0 = time.perf_counter()
    plain = predictor.predict_network(nets)
    t_plain = time.perf_counter() - t0
    assert np.array_equal(after[1], before[2]), "cached constraint check differs from uncached"
    assert np.allclose(after[1], plain, rtol=1e-4), "deduplicated prediction differs"

    res = {"archs": n, "repeat": repeat,
           "blocks_per_arch": round(sum(map(len, nets)) / n, 1),
           "distinct_blocks": len({b for net in nets for b in net}),
           "uncached_archs_per_s": round(n / (before[0] + before[1])),
           "uncached_blocks_s": round(before[0], 3), "uncached_predict_s": round(before[1], 3),
           "archs_per_s": round(n / after[0]), "cached_s": round(after[0], 3),
           "predict_network_archs_per_s": round(n / t_plain), "bit_identical": True,
           "goal_archs_per_s": 10000}
    print(f"constraint check: {n} archs ({res['blocks_per_arch']} blocks each, "
          f"{res['distinct_blocks']} distinct), best of {repeat}; goal >= 10000 archs/s")
    print(f"  {'path':<48} {'archs/s':>8} {'total s':>8} {'blocks s':>8}")
    rows = [("uncached (before): ffnet_blocks + predict_nets", res["uncached_archs_per_s"],
             before[0] + before[1], f"{before[0]:.3f}"),
            ("cached (after): predict_archs, cold caches", res["archs_per_s"], after[0], "-"),
            ("plain predict_network, blocks prebuilt", res["predict_network_archs_per_s"],
             t_plain, "-")]
    for name, rate, secs, blocks in rows:
        print(f"  {name:<48} {rate:>8,} {secs:>8.3f} {blocks:>8}")
    print(f"  speed-up {res['archs_per_s'] / res['uncached_archs_per_s']:.1f}x; cached and "
          "uncached predictions bit-identical", flush=True)
    return res


def bench_samplers(device: str, preset: str, trials: int, seeds: int, target_frac: float,
                   data: str, workdir: Path) -> dict:
    from latency.predictors import load_for_device
    from nas.search.config import get_preset
    from nas.search.gradient import SearchRequest
    from nas.search.optuna_driver import attainable, run_optuna_search
    from nas.search.optuna_options import OptunaOptions

    choices = FFNetChoices(**SPACE_PRESETS[preset])
    lo, hi = attainable(load_for_device(device), choices, HW, 19)
    target = lo + target_frac * (hi - lo)
    print(f"samplers: {trials} trials x {seeds} seeds, target {target:.3f} ms "
          f"({target_frac:.0%} of the predicted range {lo:.3f}..{hi:.3f})", flush=True)
    cfg = get_preset(preset).replace(space="ffnet")
    out: dict[str, list[float]] = {}
    for sampler in ("random", "tpe"):
        for seed in range(seeds):
            folder = workdir / f"{sampler}-{seed}"
            req = SearchRequest(space="ffnet", target_ms=target, device=device, input_hw=HW,
                                data=data, cfg=cfg, folder=folder, measure=False, progress=False)
            opts = OptunaOptions(trials=trials, sampler=sampler, seed=seed, choices=choices)
            t0 = time.perf_counter()
            try:
                miou = float(run_optuna_search(req, opts)["miou"])
            except Exception as err:  # no feasible trial: counts as 0
                print(f"  {sampler} seed {seed}: {err}", flush=True)
                miou = 0.0
            out.setdefault(sampler, []).append(miou)
            print(f"  {sampler} seed {seed}: best feasible proxy mIoU {100 * miou:.2f}% "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    means = {s: statistics.mean(v) for s, v in out.items()}
    print("samplers: mean best feasible proxy mIoU over seeds: "
          + ", ".join(f"{s} {100 * m:.2f}%" for s, m in means.items()), flush=True)
    return {"target_ms": target, "trials": trials, "seeds": seeds, "runs": out, "mean": means}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["all", "samplers", "throughput"], default="all")
    ap.add_argument("--predictor", choices=["analytic", "device"], default="analytic")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--preset", default="tiny", choices=sorted(SPACE_PRESETS))
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--target-frac", type=float, default=0.3,
                    help="target as a fraction of the predicted latency range (default 0.3)")
    ap.add_argument("--archs", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3, help="throughput: best of this many runs")
    ap.add_argument("--data", default="synth")
    ap.add_argument("--json", metavar="FILE", help="also write the results here")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    choices = FFNetChoices(**SPACE_PRESETS[args.preset])
    with tempfile.TemporaryDirectory(prefix="bench-optuna-") as tmp:
        if args.predictor == "analytic":
            os.environ["NAS_HOME"] = str(Path(tmp) / "home")
            fit_analytic_predictor(args.device, choices, HW)
        results: dict = {"preset": args.preset, "predictor": args.predictor}
        if args.part in ("all", "throughput"):
            results["throughput"] = bench_throughput(args.device, choices, args.archs, HW,
                                                     args.repeat)
        if args.part in ("all", "samplers"):
            results["samplers"] = bench_samplers(args.device, args.preset, args.trials,
                                                 args.seeds, args.target_frac, args.data,
                                                 Path(tmp) / "runs")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
