"""`nas search`: find an architecture that meets a latency target on a device.

    nas search --space rtseg --target-ms 3 --device cpu --data synth --preset cpu
    nas search --space rtseg --target-ms 65 --device s21 --data ~/cityscapes \\
        --config experiments/configs/rtseg-cityscapes-paper.yaml --input-size 512x1024
    nas search --name my-run --resume ...        # continue a killed run (same options)
    nas search --space routing --target-ms 5 --device cpu --preset cpu    # average latency
    nas search --space routing --budget flops --mu 0.1 --lambda 0.8       # the paper's budget
    nas search --space routing --budget-preset dynamic-a                  # Dynamic-A/B/C
    nas search --space ffnet --target-ms 5 --device cpu --trials 40       # Optuna (TPE)
    nas search --space ffnet --target-ms 5 --objectives miou,latency      # NSGA-II, Pareto
    nas search --space ffnet ... --storage postgresql://USER@HOST/DB      # one per worker
    nas search --space rtseg --target-ms 3 --tune beta,lr,tau --trials 8  # outer Optuna loop
    nas search --space ffnet --target-ms 5 --detail-guidance --boundary  # boosters in training

The target refers to the deployment input size (`--input-size`, default the device's), not the
training crop. Before training the command prints the space's attainable latency range on the
device and refuses a target outside it. Everything goes to runs/<name>/.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from nas.errors import UserError

if TYPE_CHECKING:
    from nas.train.boosters import BoosterConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("search", help="latency-constrained architecture search",
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", required=True, help="search space (rtseg, routing; ffnet: optuna)")
    p.add_argument("--target-ms", type=float,
                   help="latency target in ms at --input-size on --device (routing: the "
                        "average over images); required except with --budget flops")
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
    g = p.add_argument_group("routing space (dynamic routing, Li et al. 2020)")
    g.add_argument("--budget", choices=["latency", "flops"],
                   help="latency (expected ms vs --target-ms; default) or flops (paper, --mu)")
    g.add_argument("--mu", type=float, help="FLOPs budget: target share of the maximal MACs, "
                   "in (0, 1] (paper 0.1 / 0.2)")
    g.add_argument("--lambda", dest="lam", type=float, help="budget loss weight (paper 0.8/0.5)")
    g.add_argument("--budget-preset", metavar="NAME",
                   help="the paper's budgets: dynamic-a, dynamic-b, dynamic-c")
    g.add_argument("--num-layers", type=int, help="routing layers L (paper 16 / 33)")
    g.add_argument("--strides", metavar="S,S,..", help="routing scales, e.g. 4,8,16,32")
    add_optuna_options(p)
    from nas.train.boosters.cli import add_booster_flags

    add_booster_flags(p, search=True)  # used by every driver's training (and nas retrain)
    p.set_defaults(func=run)


def add_optuna_options(p: argparse.ArgumentParser) -> None:
    o = p.add_argument_group("optuna (--space ffnet, or --tune for rtseg)")
    o.add_argument("--trials", type=int, default=20,
                   help="finished trials the study should hold, all workers together (default 20)")
    o.add_argument("--storage", metavar="URL",
                   help="study storage (default sqlite in the run folder); postgresql://... "
                        "shares one study between workers on many machines")
    o.add_argument("--study-name", help="study name (default: the run folder's name)")
    o.add_argument("--objectives", default="miou",
                   help="miou (single objective, latency as a constraint) or miou,latency "
                        "(NSGA-II, Pareto front)")
    o.add_argument("--sampler", help="tpe (default), random, nsga2 (default for miou,latency)")
    o.add_argument("--tune", metavar="LIST",
                   help="rtseg: tune the gradient search's beta,lr,arch_lr,tau with Optuna")
    o.add_argument("--width-mult", type=float, help="ffnet: scale every width (default: preset)")
    o.add_argument("--max-depth", type=int, help="ffnet: most blocks per stage (default: preset)")
    o.add_argument("--widths", metavar="W,W,..", help="ffnet: stage-width candidates at width 1")
    o.add_argument("--heartbeat", type=int, default=30, metavar="S",
                   help="trial heartbeat; a worker silent for 3x this is retried (default 30)")


def _int_list(flag: str, text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UserError(f"{flag} {text!r}: expected comma-separated integers") from None


def optuna_options(args: argparse.Namespace):  # -> OptunaOptions
    """The Optuna options of the command line; the FFNet size defaults come from the preset."""
    from nas.errors import unknown_name
    from nas.search.optuna_options import OptunaOptions
    from nas.search.optuna_space import SPACE_PRESETS, FFNetChoices
    from nas.search.optuna_tune import parse_tune

    preset = args.preset or "cpu"
    if preset not in SPACE_PRESETS:
        raise unknown_name("search preset", preset, SPACE_PRESETS)
    size = dict(SPACE_PRESETS[preset])
    if args.width_mult is not None:
        size["width_mult"] = args.width_mult
    if args.max_depth is not None:
        size["max_depth"] = args.max_depth
    if args.widths:
        size["widths"] = _int_list("--widths", args.widths)
    heartbeat = max(1, args.heartbeat)
    return OptunaOptions(
        trials=args.trials, storage=args.storage, study_name=args.study_name,
        objectives=tuple(x.strip() for x in args.objectives.split(",") if x.strip()),
        sampler=args.sampler, seed=args.seed or 0, choices=FFNetChoices(**size),
        tune=parse_tune(args.tune) if args.tune else (), heartbeat_s=heartbeat,
        grace_s=3 * heartbeat)


def run_optuna(args: argparse.Namespace, driver,
               boosters: BoosterConfig | None = None) -> None:
    """The optuna driver (ffnet) or the outer loop over the gradient search (--tune)."""
    opts = optuna_options(args)
    if opts.tune:
        from nas.search.optuna_tune import run_tuning as driver
    if not args.name:  # a fixed default folder: re-running the command resumes the study
        tag = "-tune" if opts.tune else ""
        args.name = f"optuna-{args.space}{tag}-{args.device}-{args.target_ms:g}ms"
    req = build_request(args, boosters)
    summary = driver(req, opts)
    if "boosters" not in summary:  # the --tune summary (optuna_outputs.finish) lacks them
        from nas.io import atomic_write_json
        from nas.train.boosters.search import booster_names

        summary["boosters"] = booster_names(boosters)
        atomic_write_json(req.folder / "summary.json", summary)
    if opts.tune:  # the best trial is a whole gradient-search run: retrain/export take it
        best = req.folder / "trials" / f"{summary['best_trial']:04d}"
        print(f"next: nas retrain {best}  then  nas export {best} --format onnx")
    else:
        print(f"next: nas retrain {req.folder}  then  nas export {req.folder} --format onnx  "
              f"(or nas train --model {req.folder}/arch.json from scratch)")


def _uses_optuna(args: argparse.Namespace) -> bool:
    from nas.search import drivers

    return bool(args.tune) or drivers().get(args.space, "").startswith("nas.search.optuna")


def build_request(args: argparse.Namespace,
                  boosters: BoosterConfig | None = None):  # -> SearchRequest
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
                         measure=not args.no_measure, progress=not args.no_progress,
                         boosters=boosters)


def run(args: argparse.Namespace) -> int:
    from nas.search import get_driver

    driver = get_driver(args.space)  # unknown / not-yet-implemented spaces fail here
    from nas.train.boosters.cli import search_boosters

    boosters = search_boosters(args)  # checked now, before a long search
    if args.space == "routing":
        from nas.search.routing_cli import build_routing_request

        req = build_routing_request(args, boosters)
    else:
        routing_only = [f"--{k.replace('_', '-')}" for k in ("budget", "mu", "budget_preset",
                                                              "num_layers", "strides")
                        if getattr(args, k, None) is not None]
        if getattr(args, "lam", None) is not None:
            routing_only.append("--lambda")
        if routing_only:
            raise UserError(f"{routing_only[0]}: only for --space routing")
        if args.target_ms is None:
            raise UserError("--target-ms: required (the latency target in ms)")
        if _uses_optuna(args):
            run_optuna(args, driver, boosters)
            return 0
        req = build_request(args, boosters)
    driver(req)
    if args.space == "routing":  # the common network is exported as is (no retrain stage)
        print(f"next: nas export {req.folder} --format onnx")
        return 0
    print(f"next: nas retrain {req.folder}  then  nas export {req.folder} --format onnx")
    return 0
