"""Acceptance benchmark of the dynamic-routing search on `cpu` (ONNX Runtime, 1 thread).

    .venv/bin/python experiments/bench_routing.py [--input-size 128x256] [--json out.json]

1. profiles the routing blocks of the CPU-sized supernet on `cpu` and trains its predictor (in a
   private NAS_HOME under the output folder, so the user's predictor is not touched), or with
   `--nas-home DIR` uses the `cpu` predictor already there;
2. runs `nas search --space routing --preset cpu` twice, at a low and a high latency target
   (fractions of the attainable range), on the synthetic street data;
3. checks: the measured mean latency (each image's executed network, timed by the `cpu`
   profiler) follows the targets' order and is within +-15% of each target; data-dependent
   inference is faster than the all-open supernet (PyTorch eager, 1 thread, interleaved);
   `nas export` of each common network matches PyTorch (ONNX Runtime, max abs diff <= 1e-4).

Prints a table and writes JSON. About 5-10 minutes on a quiet 2-core machine; timings on a
shared machine are preliminary.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOLERANCE = 0.15


def _search(name: str, target: float | None, hw: str, config: Path) -> dict[str, Any]:
    from nas.cli.main import main

    argv = ["search", "--space", "routing", "--device", "cpu", "--data", "synth",
            "--input-size", hw, "--config", str(config), "--name", name, "--no-progress"]
    if target is not None:
        argv += ["--target-ms", f"{target:.4f}"]
    if main(argv) != 0:
        raise SystemExit(f"nas search {name} failed")
    return json.loads((Path("runs") / name / "summary.json").read_text())


def _export(name: str) -> dict[str, Any]:
    from nas.cli.main import main

    rc = main(["export", str(Path("runs") / name), "--format", "onnx"])
    summary = json.loads((Path("runs") / name / "summary.json").read_text())
    return {"rc": rc, **summary["export"], "common": summary["common"]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input-size", default="128x256", help="deployment size HxW")
    ap.add_argument("--fracs", type=float, nargs=2, default=(0.3, 0.7),
                    help="low/high targets as fractions of the attainable latency range")
    ap.add_argument("--out", default="runs/bench_routing", help="work folder (runs, NAS_HOME)")
    ap.add_argument("--json", default="experiments/results/bench_routing.json")
    ap.add_argument("--iterations", type=int, default=None,
                    help="training steps per search (default: the cpu preset's 200)")
    ap.add_argument("--images", type=int, default=None,
                    help="report images per search (default: the cpu preset's 20)")
    ap.add_argument("--passes", type=int, default=None, help="timing passes (default 5)")
    ap.add_argument("--nas-home", metavar="DIR",
                    help="use this NAS_HOME's `cpu` predictor (e.g. the one "
                         "experiments/latency_acceptance.sh trained) instead of profiling a "
                         "private one under --out")
    args = ap.parse_args(argv)
    repo = Path(__file__).resolve().parents[1]
    json_path = (repo / args.json) if not Path(args.json).is_absolute() else Path(args.json)
    work = Path(args.out).resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.environ["NAS_HOME"] = (str(Path(args.nas_home).resolve()) if args.nas_home
                              else str(work / "home"))
    load_before = os.getloadavg()[0]
    os.chdir(work)
    t0 = time.perf_counter()

    from latency.devices import parse_input_size
    from nas.search.predictor_setup import get_predictor
    from nas.search.routing import attainable_ms
    from nas.search.routing_config import get_routing_preset
    from search_spaces.routing import arch as arch_mod

    hw = tuple(int(v) for v in parse_input_size(args.input_size))
    overrides: dict[str, Any] = {"preset": "cpu"}
    if args.iterations:
        overrides["train"] = {"iterations": args.iterations}
    if args.images:
        overrides["report_images"] = args.images
    if args.passes:
        overrides["timing_passes"] = args.passes
    config = work / "bench_routing.yaml"
    config.write_text(json.dumps(overrides))  # JSON is YAML
    cfg = get_routing_preset("cpu")
    predictor = get_predictor("cpu", "routing", auto_profile=True, supernet_cfg=cfg.supernet,
                              input_hw=hw, num_classes=19, progress=False)  # type: ignore
    lo, hi = attainable_ms(predictor, arch_mod.parse_cfg(cfg.supernet)[0], hw, 19)  # type: ignore
    targets = {"low": lo + args.fracs[0] * (hi - lo), "high": lo + args.fracs[1] * (hi - lo)}
    print(f"attainable {lo:.3f} .. {hi:.3f} ms; targets {targets}", flush=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs: dict[str, Any] = {}
    for label, target in targets.items():
        name = f"bench-{label}-{stamp}"
        summary = _search(name, target, args.input_size, config)
        runs[label] = {"name": name, "target_ms": target, "summary": summary,
                       "export": _export(name)}

    checks: dict[str, bool] = {}
    low, high = runs["low"]["summary"], runs["high"]["summary"]
    checks["measured_order"] = low["measured_ms"] < high["measured_ms"]
    for label, r in runs.items():
        s = r["summary"]
        err = s["measured_ms"] / r["target_ms"] - 1
        r["measured_vs_target"] = err
        checks[f"{label}_within_15pct"] = abs(err) <= TOLERANCE
        eager = s["eager_ms"]
        r["dynamic_speedup_vs_all_open"] = eager["all_open"] / eager["dynamic"]
        checks[f"{label}_dynamic_faster_than_all_open"] = eager["dynamic"] < eager["all_open"]
        checks[f"{label}_common_onnx_equal"] = bool(r["export"]["ok"])

    print("\n| run | target ms | predicted ms | measured ms (cpu) | vs target | GMACs avg/min/max"
          " | eager dynamic / all-open / full ms | common: routes, ONNX diff |")
    print("|---|---|---|---|---|---|---|---|")
    for label, r in runs.items():
        s, g, e = r["summary"], r["summary"]["report"]["gmacs"], r["summary"]["eager_ms"]
        c = r["export"]
        print(f"| {label} | {r['target_ms']:.3f} | {s['predicted_ms']:.3f} | "
              f"{s['measured_ms']:.3f} | {100 * r['measured_vs_target']:+.1f}% | "
              f"{g['mean']:.4f}/{g['min']:.4f}/{g['max']:.4f} | {e['dynamic']:.2f} / "
              f"{e['all_open']:.2f} / {e['full_static']:.2f} | {c['common']['routes']}, "
              f"{c['max_abs_diff'].get('onnx', float('nan')):.1e} |")
    for k, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'} {k}")
    result = {"input_size": list(hw), "attainable_ms": [lo, hi], "targets": targets,
              "overrides": overrides,
              "checks": checks, "passed": all(checks.values()),
              "time_s": round(time.perf_counter() - t0, 1),
              "runs": {k: {kk: vv for kk, vv in v.items()} for k, v in runs.items()},
              "nas_home": os.environ["NAS_HOME"],
              "load_average_1min": {"start": load_before, "end": os.getloadavg()[0]}}
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=1, default=str))
    print(f"wrote {json_path} ({result['time_s']:.0f} s)")
    return result


if __name__ == "__main__":
    sys.exit(0 if main()["passed"] else 1)
