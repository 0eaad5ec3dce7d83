"""`nas retrain RUN`: fine-tune the subnet a search derived (self-distillation + aux heads).

    nas retrain runs/search-rtseg-20260101-120000
    nas retrain my-run --iters 40000 --train-device cuda
    nas retrain my-run --resume                 # continue a killed fine-tuning
    nas retrain my-run --detail-guidance --boundary   # with training boosters
"""

from __future__ import annotations

import argparse


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
    from nas.search.retrain import find_run, retrain_run

    folder = find_run(args.run)
    boosters = _boosters(args, folder)
    if boosters is not None:
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


def _boosters(args: argparse.Namespace, folder):  # -> BoosterConfig | None
    """Boosters from the flags; without flags, a `--resume` keeps the killed retrain's own and a
    fresh retrain takes those `nas search` recorded."""
    from nas.train.boosters.cli import booster_config
    from nas.train.boosters.retrain import saved_boosters

    if not (args.detail_guidance or args.boundary):
        return saved_boosters(folder, resume=args.resume)
    return booster_config(args)
