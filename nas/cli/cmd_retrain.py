"""`nas retrain RUN`: fine-tune the subnet a search derived (self-distillation + aux heads).

    nas retrain runs/search-rtseg-20260101-120000
    nas retrain my-run --iters 40000 --train-device cuda
    nas retrain my-run --resume                 # continue a killed fine-tuning
    nas retrain my-run --detail-guidance --boundary   # with training boosters
    nas retrain runs/optuna-ffnet-cpu-5ms       # an FFNet study: its best arch, CE only
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nas.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("retrain", help="fine-tune a search's subnet (distillation)",
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", metavar="RUN", help="search run folder (or its name under runs/)")
    p.add_argument("--iters", type=int, help="fine-tuning iterations (default: the run config's)")
    p.add_argument("--train-device", choices=["cpu", "cuda"], help="where to train")
    p.add_argument("--resume", action="store_true", help="continue a killed fine-tuning")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    from nas.train.boosters.cli import add_booster_flags

    add_booster_flags(p, slimmable=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nas.runs import load_config
    from nas.search.optuna_retrain import is_optuna_run
    from nas.search.retrain import find_run, retrain_run

    folder = find_run(args.run)
    if is_optuna_run(load_config(folder)):
        summary = _retrain_optuna(args, folder)
    elif (boosters := _boosters(args, folder)) is not None:
        from nas.train.boosters.retrain import retrain_boosted

        summary = retrain_boosted(folder, boosters, iterations=args.iters,
                                  train_device=args.train_device, resume=args.resume,
                                  progress=not args.no_progress)
    else:
        summary = retrain_run(folder, iterations=args.iters, train_device=args.train_device,
                              resume=args.resume, progress=not args.no_progress)
    miou = summary.get("miou")
    print(f"retrained {folder}/ -> retrain/ (val mIoU "
          f"{'n/a' if miou is None else f'{100 * miou:.2f}%'}); next: nas export {folder} "
          "--format onnx")
    return 0


def _retrain_optuna(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """An FFNet study's best arch, fine-tuned without a teacher (it has no supernet)."""
    from nas.search.optuna_retrain import open_optuna_run, retrain_optuna_run

    open_optuna_run(folder)  # a --tune or unfinished run fails here, before the flags
    if args.detail_guidance or args.boundary:
        raise UserError("--detail-guidance/--boundary: the boosters fine-tune gradient search "
                        "runs (rtseg); an Optuna FFNet run retrains with cross-entropy only")
    return retrain_optuna_run(folder, iterations=args.iters, train_device=args.train_device,
                              resume=args.resume, progress=not args.no_progress)


def _boosters(args: argparse.Namespace, folder):  # -> BoosterConfig | None
    """Boosters from the flags; without flags, a `--resume` keeps the killed retrain's own and a
    fresh retrain takes those `nas search` recorded."""
    from nas.train.boosters.cli import booster_config
    from nas.train.boosters.retrain import saved_boosters

    if not (args.detail_guidance or args.boundary):
        return saved_boosters(folder, resume=args.resume)
    return booster_config(args)
