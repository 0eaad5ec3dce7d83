"""`nas demo` (`make demo`): the whole pipeline on a fresh CPU machine in minutes.

synthetic data -> profile the `cpu` device if it has no predictor -> search at a feasible target
-> retrain -> export ONNX -> measure -> summary with a plot of the subnet against the supernet and
the target. Budgets are the `cpu` preset's (1500 pretrain / 300 search / 400 fine-tune iterations
on 64x128 crops); the paper's are in experiments/configs/.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="synthetic data -> profile -> search -> retrain -> "
                              "export -> measure, in minutes on a CPU", description=__doc__)
    p.add_argument("--device", default="cpu", help="latency device (default cpu)")
    p.add_argument("--input-size", default="128x256", metavar="HxW",
                   help="deployment input size (default 128x256)")
    p.add_argument("--preset", default="cpu", help="search budgets (default cpu; tiny: seconds)")
    p.add_argument("--target-frac", type=float, default=0.35,
                   help="target = min + frac * (max - min) of the attainable range")
    p.add_argument("--name", metavar="RUN", help="run folder name under runs/")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


class Stages:
    """Prints each stage with its timing and where it wrote; keeps the timings."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self.t0 = time.perf_counter()

    def run(self, name: str, fn: Any, where: str = "") -> Any:
        print(f"\n== {name} ==", flush=True)
        t = time.perf_counter()
        out = fn()
        self.times[name] = round(time.perf_counter() - t, 1)
        print(f"== {name}: {self.times[name]:.1f} s{f' -> {where}' if where else ''}", flush=True)
        return out


def run(args: argparse.Namespace) -> int:
    from latency.devices import parse_input_size
    from nas.errors import UserError
    from nas.export.run_export import export_run
    from nas.runs import run_dir
    from nas.search.config import get_preset
    from nas.search.gradient import SearchRequest, run_gradient_search
    from nas.search.latency_loss import attainable_range
    from nas.search.predictor_setup import get_predictor
    from nas.search.report import plot_summary
    from nas.search.retrain import retrain_run

    if not 0.0 < args.target_frac < 1.0:
        raise UserError(f"--target-frac: expected a number in (0, 1), got {args.target_frac}")
    hw = parse_input_size(args.input_size)
    cfg = get_preset(args.preset)
    folder = Path(run_dir(args.name, "demo", "rtseg"))
    progress = not args.no_progress
    st = Stages()

    def data() -> int:
        from nas.data import build_dataset

        ds = build_dataset("synth", "train")
        print(f"synthetic street scenes: {len(ds)} train images, {ds.num_classes} classes in "
              f"{ds.layout.root}", flush=True)
        return int(ds.num_classes)

    n_cls = st.run("data", data, "the synth cache (NAS_DATA_DIR, default ./data)")

    def predictor() -> Any:
        return get_predictor(args.device, "rtseg", auto_profile=True, supernet_cfg=cfg.supernet,
                             input_hw=hw, num_classes=n_cls, progress=progress)

    from nas.paths import predictor_path

    pred = st.run("latency predictor", predictor, str(predictor_path(args.device)))
    lo, hi = attainable_range("rtseg", cfg.supernet, pred, hw, n_cls)
    target = round(lo + args.target_frac * (hi - lo), 4)
    print(f"\nattainable range {lo:.3f}..{hi:.3f} ms on '{args.device}' at {hw[0]}x{hw[1]}; "
          f"searching for {target} ms", flush=True)
    req = SearchRequest(space="rtseg", target_ms=target, device=args.device, input_hw=hw,
                        data="synth", cfg=cfg, folder=folder, progress=progress)
    st.run("search (pretrain + search + derive)", lambda: run_gradient_search(req), str(folder))
    st.run("retrain", lambda: retrain_run(folder, progress=progress), f"{folder}/retrain")
    res = st.run("export + measure", lambda: export_run(folder, ["onnx"], with_supernet=True), f"{folder}/export")
    summary = json.loads((folder / "summary.json").read_text())
    summary["demo_stage_s"] = st.times
    summary["demo_total_s"] = round(time.perf_counter() - st.t0, 1)
    plot = plot_summary(folder, summary)
    from nas.io import atomic_write_json

    atomic_write_json(folder / "summary.json", summary)
    _print_summary(summary, folder, plot)
    return 0 if res.ok else 1


def _print_summary(s: dict[str, Any], folder: Path, plot: Path) -> None:
    def ms(v: Any) -> str:
        return "n/a" if v is None else f"{v:.3f} ms"

    def pct(v: Any) -> str:
        return "n/a" if v is None else f"{100 * v:.2f}%"

    print("\n== summary ==")
    print(f"target          {s['target_ms']:.3f} ms on '{s['device']}' at "
          f"{s['input_size'][0]}x{s['input_size'][1]}")
    print(f"subnet          predicted {ms(s['predicted_ms'])}, measured {ms(s['measured_ms'])}, "
          f"{s['params'] / 1e3:.1f} K params, {s['macs'] / 1e6:.1f} MMACs, mIoU {pct(s['miou'])}")
    print(f"supernet        predicted {ms(s['supernet_predicted_ms'])}, measured "
          f"{ms(s['supernet_measured_ms'])}, {s['supernet_params'] / 1e3:.1f} K params, "
          f"{s['supernet_macs'] / 1e6:.1f} MMACs, mIoU {pct(s['supernet_miou'])}")
    print("stage times     " + ", ".join(f"{k} {v:.0f} s" for k, v in s["demo_stage_s"].items())
          + f"; total {s['demo_total_s']:.0f} s")
    print(f"wrote {folder}/summary.json and the plot {plot}")
