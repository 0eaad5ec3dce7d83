"""`nas data synth` (write the procedural street dataset) and `nas data check` (scan a dataset)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from nas.errors import UserError


def _size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)x(\d+)", text.strip())
    if not match or min(int(match[1]), int(match[2])) < 16:
        raise argparse.ArgumentTypeError(
            f"expected HxW with both at least 16, e.g. 256x512; got {text!r}"
        )
    return int(match[1]), int(match[2])


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="generate or check segmentation datasets")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    synth = sub.add_parser("synth", help="write procedural street scenes (Cityscapes layout)")
    synth.add_argument("--out", required=True, type=Path, help="output dataset folder")
    synth.add_argument("--n", type=int, default=160, help="number of train images")
    synth.add_argument("--n-val", type=int, default=None, help="val images (default: n/4)")
    synth.add_argument("--size", type=_size, default=(256, 512), help="image size HxW")
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(func=run_synth)

    check = sub.add_parser("check", help="report images, classes and problems of a dataset")
    check.add_argument("dir", type=Path, help="dataset folder (Cityscapes or plain layout)")
    check.add_argument("--split", action="append", help="only this split (repeatable)")
    check.set_defaults(func=run_check)


def run_synth(args: argparse.Namespace) -> int:
    from nas.data.synth import generate

    if args.n < 1:
        raise UserError(f"--n: expected at least 1 image, got {args.n}")
    n_val = args.n_val if args.n_val is not None else max(1, args.n // 4)
    if n_val < 0:
        raise UserError(f"--n-val: expected 0 or more images, got {n_val}")
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"{args.out}: exists and is not a folder")
    generate(args.out, args.n, args.size, args.seed, "train", progress=True)
    if n_val:
        generate(args.out, n_val, args.size, args.seed, "val", progress=True)
    h, w = args.size
    print(f"wrote {args.n} train + {n_val} val scenes of {h}x{w} (seed {args.seed}) to {args.out}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from nas.data.check import check_dataset

    report = check_dataset(args.dir, args.split)
    print(report.format())
    if report.problems:
        raise UserError(
            f"{args.dir}: {len(report.problems)} problem(s) found; first: {report.problems[0]}"
        )
    return 0
