"""`nas search --space routing` options -> a `RoutingRequest` (kept out of cmd_search.py so the
gradient search's option handling stays as it was).

Order of precedence: `--preset` or `--config` (YAML of `RoutingSearchConfig` fields, may start
from `preset: NAME`), then `--budget-preset` (Dynamic-A/B/C), then single options.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nas.errors import UserError
from nas.io import read_yaml_mapping
from nas.search.routing import RoutingRequest
from nas.search.routing_config import (
    RoutingSearchConfig,
    apply_budget_preset,
    get_routing_preset,
)
from nas.train.boosters.config import BoosterConfig


def load_routing_config(path: str | Path) -> RoutingSearchConfig:
    """A YAML file of `RoutingSearchConfig` fields; `preset: NAME` starts from a preset."""
    path = Path(path)
    data = read_yaml_mapping(path, "config file", "a mapping of routing search options")
    data.pop("space", None)
    base = data.pop("preset", None)
    if base is None:
        return RoutingSearchConfig.from_dict(data, str(path))
    merged: dict[str, Any] = get_routing_preset(str(base)).as_dict()
    for key, value in data.items():
        merged[key] = {**merged[key], **value} if key in ("train", "supernet") and \
            isinstance(value, dict) else value
    return RoutingSearchConfig.from_dict(merged, str(path))


def _strides(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"--strides {text!r}: expected comma-separated integers, e.g. "
                        "4,8,16,32") from None


def build_routing_request(args: argparse.Namespace,
                          boosters: BoosterConfig | None = None) -> RoutingRequest:
    from latency.devices import get_device, parse_input_size
    from nas.runs import run_dir

    if args.config and args.preset:
        raise UserError("give --preset or --config, not both (a config may say `preset: NAME`)")
    if args.beta is not None:
        raise UserError("--beta: only for --space rtseg; the routing budget weight is --lambda")
    if getattr(args, "tune", None):
        raise UserError("--tune: only for --space rtseg")
    cfg = load_routing_config(args.config) if args.config else \
        get_routing_preset(args.preset or "cpu")
    if args.budget_preset:
        cfg = apply_budget_preset(cfg, args.budget_preset)
    budget = args.budget
    if budget is None and args.budget_preset is None and args.mu is not None \
            and args.target_ms is None:
        budget = "flops"  # `--mu` alone means the paper's FLOPs budget
    cfg = cfg.replace("command line", budget=budget, mu=args.mu, lam=args.lam)
    size = {k: v for k, v in (("num_layers", args.num_layers),
                              ("strides", _strides(args.strides))) if v is not None}
    if size:  # the space validates: a layer count or scale set it cannot form is refused
        cfg = cfg.replace("command line", supernet={**cfg.supernet, **size})
    train_changes = {"device": args.train_device, "seed": args.seed}
    if any(v is not None for v in train_changes.values()):
        cfg = cfg.replace("command line",
                          train=cfg.train.replace("command line", **train_changes).as_dict())
    if args.mu is not None and cfg.budget != "flops":
        raise UserError("--mu: only for the FLOPs budget (--budget flops); the latency budget "
                        "takes --target-ms")
    device = get_device(args.device)
    hw = parse_input_size(args.input_size) if args.input_size else tuple(device.input_size)
    if args.resume and not args.name:
        raise UserError("--resume needs --name RUN (the run folder under runs/ to continue)")
    folder = run_dir(args.name, "search", "routing")
    return RoutingRequest(target_ms=args.target_ms, device=device.name,
                          input_hw=(int(hw[0]), int(hw[1])), data=args.data, cfg=cfg,
                          folder=Path(folder), resume=args.resume,
                          auto_profile=args.auto_profile, measure=not args.no_measure,
                          progress=not args.no_progress, boosters=boosters)
