"""`nas search`: find an architecture that meets a latency target on a device.

    nas search --space rtseg --target-ms 3 --device cpu --data synth --preset cpu
    nas search --space rtseg --target-ms 65 --device s21 --data ~/cityscapes \\
        --config experiments/configs/rtseg-cityscapes-paper.yaml --input-size 512x1024
    nas search --name my-run --resume ...        # continue a killed run (same options)

The target refers to the deployment input size (`--input-size`, default the device's), not the
training crop. Before training the command prints the space's attainable latency range on the
device and refuses a target outside it. Everything goes to runs/<name>/.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nas.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("search", help="latency-constrained architecture search",
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", required=True, help="search space (rtseg; ffnet/routing: planned)")
    p.add_argument("--target-ms", type=float, required=True,
                   help="latency target in ms at --input-size on --device")
    p.add_argument("--device", default="cpu", help="latency device (default: cpu)")
    p.add_argument("--data", default="synth", metavar="DIR|synth", help="dataset (default synth)")
    p.add_argument("--input-size", metavar="HxW", help="deployment input size (default: device's)")
    p.add_argument("--preset", default=None,
                   help="budgets and sizes: tiny, cpu (default), paper")
    p.add_argument("--config", metavar="YAML", help="search config file (experiments/configs/)")
    p.add_argument("--name", metavar="RUN", help="run folder name under runs/")
    p.add_argument("--resume", action="store_true", help="continue the run named by --name")
    p.add_argument("--auto-profile", action="store_true",
                   help="profile the device and train its predictor first if it has none")
    p.add_argument("--train-device", choices=["cpu", "cuda"], help="where to train")
    p.add_argument("--seed", type=int, help="seed of every stage")
    p.add_argument("--beta", type=float, help="latency loss weight (RTSeg eq. 12; paper 0.01)")
    p.add_argument("--no-measure", action="store_true", help="do not time the subnet at the end")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def build_request(args: argparse.Namespace):  # -> SearchRequest
    from latency.devices import get_device, parse_input_size
    from nas.runs import run_dir
    from nas.search.config import STAGES, get_preset, load_search_config
    from nas.search.gradient import SearchRequest

    if args.config and args.preset:
        raise UserError("give --preset or --config, not both (a config may say `preset: NAME`)")
    cfg = load_search_config(args.config) if args.config else get_preset(args.preset or "cpu")
    if cfg.space != args.space:
        if args.config:
            raise UserError(f"{args.config}: 'space' is {cfg.space!r} but --space is {args.space!r}")
        cfg = cfg.replace(space=args.space)
    changes: dict = {}
    if args.beta is not None:
        changes["beta"] = args.beta
    for stage in STAGES:
        stage_changes = {"device": args.train_device, "seed": args.seed}
        if any(v is not None for v in stage_changes.values()):
            changes[stage] = getattr(cfg, stage).replace("command line", **stage_changes).as_dict()
    if changes:
        cfg = cfg.replace(**changes)
    device = get_device(args.device)
    hw = parse_input_size(args.input_size) if args.input_size else tuple(device.input_size)
    if args.resume and not args.name:
        raise UserError("--resume needs --name RUN (the run folder under runs/ to continue)")
    folder = run_dir(args.name, "search", args.space)
    return SearchRequest(space=args.space, target_ms=args.target_ms, device=device.name,
                         input_hw=(int(hw[0]), int(hw[1])), data=args.data, cfg=cfg,
                         folder=Path(folder), resume=args.resume, auto_profile=args.auto_profile,
                         measure=not args.no_measure, progress=not args.no_progress)


def run(args: argparse.Namespace) -> int:
    from nas.search import get_driver

    driver = get_driver(args.space)  # unknown / not-yet-implemented spaces fail here
    req = build_request(args)
    driver(req)
    print(f"next: nas retrain {req.folder}  then  nas export {req.folder} --format onnx")
    return 0
