"""`nas profile`: measure sampled blocks (and whole networks) on a device into the store.

    nas profile --device cpu --space rtseg --n 2000 --networks 20
    nas profile --device s21 --space rtseg --n 2000 --serial R5CR10 --serial R5CR11
    nas profile --device cpu --blocks blocks.jsonl          # a given block list
    nas profile --device cpu --space rtseg --cfg '{"width_mult": 0.25}' --input-size 128x256 \\
        --n 1000 --networks 150                              # a CPU-sized space
    nas profile --device cpu --remeasure-slow   # again what the host timed while slow
    nas profile --device cpu --remeasure-slow --slow-factor 1.05   # ... even slightly slow
    nas profile --device cpu --repeats 3 --kind network   # each stored network timed 3 times
    nas profile --device cpu --repeats 3 --kind network --space routing --host-wait 600
                                 # ... only routing's, each batch at the host's quiet speed
    nas profile export --format parquet --out latency.parquet
    nas profile import experiments/results/latency-store/cpu.csv.gz   # another store's rows

Killed runs resume: run the same command again; nothing is measured or stored twice.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from latency.blocks import BlockSpec
from latency.devices import get_device, load_devices, parse_input_size
from nas.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    try:
        devices = ", ".join(load_devices())
    except UserError:  # a broken user devices.yaml must not break every other command's parser
        devices = "see latency/devices.yaml"
    p = subparsers.add_parser(
        "profile", help="measure block/network latency on a device into the store",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", help=f"device name ({devices})")
    p.add_argument("--devices", action="append", default=[], metavar="FILE",
                   help="extra devices YAML (added after $NAS_HOME/devices.yaml)")
    p.add_argument("--space", action="append", default=[], help="search space (repeatable)")
    p.add_argument("--n", type=int, default=0, help="number of blocks to sample and measure")
    p.add_argument("--networks", type=int, default=0, metavar="M",
                   help="also measure M whole sampled networks (first --space)")
    p.add_argument("--blocks", metavar="FILE",
                   help="measure these blocks (JSON lines of BlockSpec dicts) instead of sampling")
    p.add_argument("--remeasure-slow", action="store_true",
                   help="measure again the stored items this host timed only while it ran "
                        "slower than --slow-factor x its quiet calibration (appends; the split "
                        "takes an item's fastest row)")
    p.add_argument("--slow-factor", type=float, metavar="F",
                   help="with --remeasure-slow: how much slower than the host's quiet "
                        "calibration a row must be to count as slow (default 1.15)")
    p.add_argument("--repeats", type=int, metavar="K",
                   help="measure the stored items again, at another time, until each has K rows "
                        "(appends; the split takes an item's fastest row)")
    p.add_argument("--kind", choices=("block", "network"), action="append", default=[],
                   help="with --repeats: only this kind of item (repeatable; default both); "
                        "--space then picks the stored items of that space")
    p.add_argument("--host-wait", type=float, default=0.0, metavar="S",
                   help="a batch timed while this host's calibration block ran >5%% slower "
                        "than its quiet speed is measured again after 30 s, for up to S seconds "
                        "per batch, before it is stored as timed (host devices; default 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--input-size", metavar="HxW", help="input size (default: the device's)")
    p.add_argument("--num-classes", type=int, default=19,
                   help="classes of the sampled networks (sizes their classifier blocks)")
    p.add_argument("--cfg", metavar="JSON",
                   help="size options for every --space's sampler, e.g. '{\"width_mult\": 0.25}' "
                        "(default: the full-size space)")
    p.add_argument("--store", metavar="PATH", help="SQLite store (default $NAS_HOME/latency.db)")
    p.add_argument("--serial", action="append", default=[],
                   help="adb serial (repeat to profile several phones in parallel)")
    p.add_argument("--rounds", type=int, help="rounds (default: the device's)")
    p.add_argument("--runs", type=int, help="timed runs per item per round")
    p.add_argument("--warmup", type=int, help="warm-up runs per item")
    p.add_argument("--batch", type=int, default=16,
                   help="items interleaved together (a kill loses at most one batch)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    sub = p.add_subparsers(dest="profile_action", metavar="ACTION")
    e = sub.add_parser("export", help="write the store's rows to CSV or Parquet")
    e.add_argument("--format", choices=("csv", "parquet"), default="csv")
    e.add_argument("--out", required=True, metavar="FILE")
    e.add_argument("--store", metavar="PATH", help="SQLite store (default $NAS_HOME/latency.db)")
    e.add_argument("--device", help="only this device's rows")
    e.add_argument("--kind", choices=("block", "network"), help="only block or network rows")
    e.set_defaults(func=run_export)
    i = sub.add_parser("import", help="append the rows of an export file (another machine's "
                       "store) to this store; rows already stored are skipped")
    i.add_argument("file", metavar="FILE", help="a `nas profile export` file (.csv, .csv.gz, "
                   ".parquet)")
    i.add_argument("--store", metavar="PATH", help="SQLite store (default $NAS_HOME/latency.db)")
    i.set_defaults(func=run_import)


def _read_blocks(path: str) -> list[BlockSpec]:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: blocks file not found")
    out = []
    for i, line in enumerate(p.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(BlockSpec.from_dict(json.loads(line)))
        except (json.JSONDecodeError, TypeError, AttributeError, ValueError) as err:
            raise UserError(f"{p}: line {i}: expected a BlockSpec JSON object ({err})") from None
    return out


def _read_cfg(text: str | None, spaces: list[str]) -> dict:
    """`--cfg` as a dict, checked by sampling one arch of each space with it."""
    if not text:
        return {}
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"--cfg: expected a JSON object of size options ({err})") from None
    if not isinstance(cfg, dict):
        raise UserError(f"--cfg: expected a JSON object of size options, got {text!r}")
    import random

    import search_spaces

    for name in spaces:
        try:
            search_spaces.get(name).sample(random.Random(0), **cfg)
        except (TypeError, ValueError, KeyError) as err:
            raise UserError(f"--cfg: space '{name}' does not take {cfg} ({err})") from None
    return cfg


def _plan(args: argparse.Namespace, device):  # -> campaign.Plan
    from latency.profilers.campaign import NetworkItem, Plan

    hw = parse_input_size(args.input_size) if args.input_size else tuple(device.input_size)
    cfg = _read_cfg(args.cfg, args.space)
    if args.blocks:
        blocks = _read_blocks(args.blocks)
    elif args.n > 0:
        if not args.space:
            raise UserError("--n needs at least one --space to sample blocks from")
        from latency.sampler import sample_blocks

        blocks = sample_blocks(list(args.space), args.n, args.seed, hw,
                               cfg={s: cfg for s in args.space}, num_classes=args.num_classes)
    else:
        blocks = []
    networks = []
    if args.networks > 0:
        if not args.space:
            raise UserError("--networks needs a --space to sample networks from")
        from latency.sampler import sample_networks

        networks = [NetworkItem(arch, nb, hw, args.num_classes)
                    for arch, nb in sample_networks(args.space[0], args.networks, args.seed, hw,
                                                    cfg, num_classes=args.num_classes)]
    if not blocks and not networks:
        raise UserError("nothing to measure: give --n N with --space, --blocks FILE "
                        "or --networks M")
    space = args.space[0] if len(args.space) == 1 and not args.blocks else None
    return Plan(device, blocks, networks, space)


def run(args: argparse.Namespace) -> int:
    from latency.profilers.base import get_profiler
    from latency.profilers.campaign import run_parallel, run_plan
    from latency.store import Store

    if not args.device:
        raise UserError("--device is required (or use `nas profile export`)")
    device = get_device(args.device, args.devices)
    if args.serial and device.backend != "tflite-adb":
        raise UserError(f"--serial only applies to adb devices; '{device.name}' uses "
                        f"backend '{device.backend}'")
    if len(args.serial) == 1:
        device = device.with_(serial=args.serial[0])
    overrides = {k: getattr(args, k) for k in ("rounds", "runs", "warmup")
                 if getattr(args, k) is not None}
    # fail fast on a missing runtime, provider, phone or benchmark_model
    for serial in args.serial if len(args.serial) > 1 else [device.serial]:
        get_profiler(device.with_(serial=serial), **overrides)
    if not args.host_wait >= 0:
        raise UserError(f"--host-wait: expected seconds >= 0, got {args.host_wait}")
    store = Store(args.store)
    if args.kind and args.repeats is None:
        raise UserError("--kind only applies with --repeats")
    if args.repeats is not None:
        if args.repeats < 2:
            raise UserError(f"--repeats: expected K >= 2 (rows per item), got {args.repeats}")
        if args.remeasure_slow or args.n or args.networks or args.blocks:
            raise UserError("--repeats takes its items from the store; drop --remeasure-slow, "
                            "--n, --networks and --blocks")
        import search_spaces
        from latency.profilers.campaign import repeat_plan

        for name in args.space:
            search_spaces.get(name)  # an unknown space is an error, not an empty plan
        plan = repeat_plan(store, device, args.repeats, args.num_classes,
                           args.kind or ("block", "network"), args.space)
    elif args.remeasure_slow:
        if args.slow_factor is not None and not args.slow_factor >= 1.0:
            raise UserError(f"--slow-factor: expected a factor >= 1.0, got {args.slow_factor}")
        if args.n or args.networks or args.blocks:
            raise UserError("--remeasure-slow takes its items from the store; drop --n, "
                            "--networks and --blocks")
        from latency.profilers.campaign import remeasure_plan

        plan = remeasure_plan(store, device, args.num_classes, args.slow_factor)
    else:
        if args.slow_factor is not None:
            raise UserError("--slow-factor only applies with --remeasure-slow")
        plan = _plan(args, device)
    todo = len(plan.pending(store))
    print(f"nas: {len(plan)} items planned on '{device.name}', {len(plan) - todo} already in "
          f"{store.path}, {todo} to measure", file=sys.stderr)
    if len(args.serial) > 1:
        added = run_parallel(plan, args.serial, store.path, batch=args.batch,
                             overrides=overrides, progress=not args.no_progress)
    else:
        added = run_plan(plan, store.path, batch=args.batch, overrides=overrides,
                         progress=not args.no_progress, host_wait_s=args.host_wait)
    print(f"nas: added {added} measurements to {store.path} "
          f"(device '{device.name}' now has {store.count(device.name)} rows)")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from latency.store import Store

    if args.store and not Path(args.store).is_file():
        raise UserError(f"{args.store}: store not found")
    store = Store(args.store)
    out = store.export(args.out, args.format, device=args.device, kind=args.kind)
    n = store.count(args.device, args.kind)
    print(f"nas: wrote {n} rows to {out}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from latency.store import Store, read_export

    df = read_export(args.file)  # before opening the store: a bad file creates no store
    store = Store(args.store)
    added, skipped = store.import_rows(df, args.file)
    print(f"nas: imported {added} rows from {args.file} into {store.path} "
          f"({skipped} already stored)")
    return 0
