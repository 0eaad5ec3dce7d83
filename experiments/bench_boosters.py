"""Training boosters on generated street scenes: detail guidance on/off, slimmable vs individual.

Two comparisons, each at the same budget (iterations, batch, crop, LR) and averaged over seeds:
1. STDC detail guidance (STDC1-Seg, width-scaled): val mIoU and the IoU of the thin classes
   (pole, traffic sign) with and without the detail loss. The detail head is training-only, so
   both networks are the same at inference.
2. SlimSeg slimmable training (one network, widths 0.25/0.5/0.75/1.0, switchable BN, stepwise
   distillation, boundary head) against four networks trained alone at those widths; each
   network gets the same number of steps (the slimmable one runs all its widths every step).

    .venv/bin/python experiments/bench_boosters.py --quick        # minutes: smoke figures
    .venv/bin/python experiments/bench_boosters.py --plan cpu     # ~15-30 min on 2 cores
    .venv/bin/python experiments/bench_boosters.py                # the full run (GPU-sized)

Prints the tables and writes experiments/results/bench_boosters[-PLAN].json (no suffix for the
full plan). Figures from --quick are smoke figures only.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nas.data import build_dataset  # noqa: E402
from nas.data.synth_cache import ensure_synth  # noqa: E402
from nas.io import atomic_write_json  # noqa: E402
from nas.models.registry import create_model  # noqa: E402
from nas.train import TrainConfig, Trainer, seed_everything  # noqa: E402
from nas.train.boosters import (  # noqa: E402
    BoosterConfig,
    BoosterLoss,
    boost,
    extract_width,
    make_slimmable,
    set_width,
)
from nas.train.evaluate import evaluate, scores  # noqa: E402

THIN = ("pole", "traffic sign")
WIDTHS = (0.25, 0.5, 0.75, 1.0)
PLANS = {  # name: data (H, W, n_train, n_val), crop, iterations, batch, model width, seeds
    "quick": {"data": (64, 128, 24, 8), "crop": (64, 128), "iters": 30, "batch": 4,
              "width_mult": 0.25, "seeds": (0, 1, 2)},
    "cpu": {"data": (128, 256, 96, 24), "crop": (64, 128), "iters": 300, "batch": 4,
            "width_mult": 0.25, "seeds": (0, 1, 2)},
    "full": {"data": (256, 512, 160, 40), "crop": (128, 256), "iters": 2000, "batch": 8,
             "width_mult": 0.5, "seeds": (0, 1, 2)},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny data and budget (smoke figures)")
    p.add_argument("--plan", choices=sorted(PLANS), help="budget plan (default full; --quick "
                   "is --plan quick)")
    p.add_argument("--model", default="stdc1-seg", help="registered model (default stdc1-seg)")
    p.add_argument("--iters", type=int, help="override the plan's iterations")
    p.add_argument("--seeds", type=int, help="number of seeds (default 3)")
    p.add_argument("--threads", type=int, help="torch intra-op threads")
    p.add_argument("--skip", choices=["detail", "slim"], help="run only the other comparison")
    p.add_argument("--out", default=str(ROOT / "experiments" / "results"), help="JSON folder")
    return p.parse_args(argv)


def train_cfg(plan: dict[str, Any], seed: int) -> TrainConfig:
    return TrainConfig(iterations=plan["iters"], batch_size=plan["batch"], lr=0.02,
                       crop=list(plan["crop"]), scales=[0.75, 1.0, 1.25], seed=seed,
                       warmup_iters=max(1, plan["iters"] // 20), ckpt_every=plan["iters"],
                       log_every=max(1, plan["iters"] // 5))


def fit(model: torch.nn.Module, data: dict[str, Any], cfg: TrainConfig, folder: Path,
        boosters: BoosterConfig | None = None) -> float:
    """Train in `folder`; returns the training time in seconds."""
    t0 = time.perf_counter()
    Trainer(model, data["train"], cfg, folder, identity={"bench": folder.name},
            num_classes=data["n"], val_set=None, progress=False,
            extra_loss=BoosterLoss(boosters) if boosters and boosters.enabled else None).fit()
    return time.perf_counter() - t0


def score(net: torch.nn.Module, data: dict[str, Any]) -> dict[str, Any]:
    return scores(evaluate(net, data["val"], data["n"]), data["names"])


def new_model(args: argparse.Namespace, plan: dict[str, Any], n: int, seed: int):
    seed_everything(seed)
    return create_model(args.model, num_classes=n, width_mult=plan["width_mult"])


def bench_detail(args, plan, data, work: Path) -> dict[str, Any]:
    rows: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    for seed in plan["seeds"]:
        for mode in ("off", "on"):
            cfg = BoosterConfig(detail=mode == "on")
            model = boost(new_model(args, plan, data["n"], seed), cfg)
            secs = fit(model, data, train_cfg(plan, seed), work / f"detail-{mode}-{seed}", cfg)
            s = score(model, data)
            rows[mode].append({"seed": seed, "miou": s["miou"], "time_s": round(secs, 1),
                               **{c: s["iou"].get(c) for c in THIN}})
            print(f"  detail {mode:3s} seed {seed}: mIoU {100 * s['miou']:.2f}  "
                  + "  ".join(f"{c} {_pct(s['iou'].get(c))}" for c in THIN), flush=True)
    return {m: {"runs": r, **_means(r, ["miou", *THIN])} for m, r in rows.items()}


def bench_slim(args, plan, data, work: Path) -> dict[str, Any]:
    slim_rows: dict[str, list[float]] = {f"{w:g}": [] for w in WIDTHS}
    solo_rows: dict[str, list[float]] = {f"{w:g}": [] for w in WIDTHS}
    for seed in plan["seeds"]:
        cfg = BoosterConfig(slimmable=True, boundary=True, widths=WIDTHS)
        model = boost(new_model(args, plan, data["n"], seed), cfg)
        fit(model, data, train_cfg(plan, seed), work / f"slim-{seed}", cfg)
        for w in WIDTHS:
            set_width(model, w)
            slim_rows[f"{w:g}"].append(score(model, data)["miou"])
        template = make_slimmable(new_model(args, plan, data["n"], seed), WIDTHS)
        for w in WIDTHS:
            solo = copy.deepcopy(extract_width(template, w)).train()  # width-w net, fresh init
            fit(solo, data, train_cfg(plan, seed), work / f"solo-{w:g}-{seed}")
            solo_rows[f"{w:g}"].append(score(solo, data)["miou"])
        print(f"  seed {seed}: slimmable "
              + " ".join(f"x{w}:{_pct(v[-1])}" for w, v in slim_rows.items())
              + " | individual " + " ".join(f"x{w}:{_pct(v[-1])}" for w, v in solo_rows.items()),
              flush=True)
    return {"slimmable": {w: _stats(v) for w, v in slim_rows.items()},
            "individual": {w: _stats(v) for w, v in solo_rows.items()}}


def _pct(v: float | None) -> str:
    return "  n/a" if v is None else f"{100 * v:5.2f}"


def _stats(values: list[float | None]) -> dict[str, Any]:
    vals = [v for v in values if v is not None]
    return {"mean": statistics.fmean(vals) if vals else None,
            "std": statistics.pstdev(vals) if len(vals) > 1 else 0.0, "values": values}


def _means(rows: list[dict[str, Any]], keys: list[str]) -> dict[str, Any]:
    return {k: _stats([r[k] for r in rows]) for k in keys}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    name = "quick" if args.quick else (args.plan or "full")
    plan = dict(PLANS[name])
    if args.iters:
        plan["iters"] = args.iters
    if args.seeds:
        plan["seeds"] = tuple(range(args.seeds))
    if args.threads:
        torch.set_num_threads(args.threads)
    h, w, n_train, n_val = plan["data"]
    root = ensure_synth((h, w), n_train, n_val, 0)
    train = build_dataset(str(root), "train", crop_hw=tuple(plan["crop"]), augment=True,
                          scales=(0.75, 1.0, 1.25))
    val = build_dataset(str(root), "val")
    data = {"train": train, "val": val, "n": train.num_classes, "names": val.class_names}
    print(f"bench_boosters: {args.model} x{plan['width_mult']}, {plan['iters']} iterations, "
          f"batch {plan['batch']}, crop {plan['crop']}, seeds {list(plan['seeds'])}, data {root}",
          flush=True)
    result: dict[str, Any] = {"model": args.model, "plan_name": name, "plan": plan,
                              "threads": torch.get_num_threads(),
                              "load_average_1min_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="bench-boosters-") as tmp:
        if args.skip != "detail":
            print("detail guidance (STDC), val mIoU / thin-class IoU, mean of seeds:")
            result["detail"] = d = bench_detail(args, plan, data, Path(tmp))
            for mode in ("off", "on"):
                print(f"  {mode:3s}: mIoU {_pct(d[mode]['miou']['mean'])}  " + "  ".join(
                    f"{c} {_pct(d[mode][c]['mean'])}" for c in THIN))
        if args.skip != "slim":
            print("slimmable (one net) vs individually trained widths, val mIoU, mean of seeds:")
            result["slim"] = s = bench_slim(args, plan, data, Path(tmp))
            print("  width   slimmable  individual")
            for wk in s["slimmable"]:
                print(f"  x{wk:<5}  {_pct(s['slimmable'][wk]['mean'])}      "
                      f"{_pct(s['individual'][wk]['mean'])}")
    out = Path(args.out) / f"bench_boosters{'' if name == 'full' else '-' + name}.json"
    atomic_write_json(out, result)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
