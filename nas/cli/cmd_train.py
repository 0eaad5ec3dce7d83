"""`nas train` and `nas eval`: train a registered model (or an arch.json) into `runs/<name>/`.

`nas train` is a thin driver over `nas.train.Trainer`: it resolves the model and the data,
merges `--config` with the flags into a `TrainConfig`, and hands over. `--resume RUN_DIR`
re-opens a run with its saved config; a flag that would change the maths is refused.
Under torchrun the same command trains data-parallel (gloo on CPU, nccl on CUDA):
`torchrun --standalone --nproc_per_node 2 -m nas.cli.main train --model ... --data ...`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from nas.errors import UserError
from nas.train.config import TrainConfig, load_train_config, parse_hw


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser("train", help="train a model into runs/<name>/")
    train.add_argument("--model", metavar="NAME|ARCH_JSON", help="registered model or arch file")
    train.add_argument("--data", metavar="DIR|synth", help="dataset folder, or 'synth'")
    train.add_argument("--iters", type=int, help="training iterations")
    train.add_argument("--batch-size", type=int, help="images per step (per process)")
    train.add_argument("--crop", metavar="HxW", help="training crop, e.g. 256x512")
    train.add_argument("--lr", type=float, help="base learning rate")
    train.add_argument("--seed", type=int, help="seed of weights, order and augmentation")
    train.add_argument("--device", choices=["cpu", "cuda"], help="where to compute")
    train.add_argument("--workers", type=int, help="DataLoader worker processes")
    train.add_argument("--eval-every", type=int, help="evaluate every K iterations (0: at end)")
    train.add_argument("--ckpt-every", type=int, help="checkpoint every N iterations")
    train.add_argument("--log-every", type=int, help="metrics.jsonl line every N iterations")
    train.add_argument("--name", metavar="RUN", help="run folder name under runs/")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a killed or stopped run")
    train.add_argument("--config", metavar="YAML", help="TrainConfig fields (flags override)")
    train.add_argument("--num-classes", type=int, help="model classes (default: the dataset's)")
    train.add_argument(
        "--model-arg", action="append", default=[], metavar="KEY=VALUE",
        help="extra model factory argument, e.g. width_mult=0.25 (repeatable)",
    )
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    from nas.train.boosters.cli import add_booster_flags

    add_booster_flags(train)
    train.set_defaults(func=run_train)

    ev = subparsers.add_parser("eval", help="mIoU and per-class IoU of a run or of weights")
    ev.add_argument("--run", metavar="RUN_DIR", help="a training run (its model, data, weights)")
    ev.add_argument("--model", metavar="NAME|ARCH_JSON", help="model, with --weights")
    ev.add_argument("--weights", metavar="PT", help="checkpoint or state_dict file")
    ev.add_argument("--data", metavar="DIR|synth", help="dataset (default: the run's)")
    ev.add_argument("--split", default="val", help="split to evaluate (default: val)")
    ev.add_argument("--crop", metavar="HxW", help="centre crop (default: whole images)")
    ev.add_argument("--num-classes", type=int, help="model classes (default: the dataset's)")
    ev.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE")
    ev.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ev.add_argument("--name", metavar="RUN", help="output run folder (with --model)")
    ev.add_argument("--width", type=float, help="width of a slimmable run (default: 1.0)")
    ev.set_defaults(func=run_eval)


# ----- shared helpers -----------------------------------------------------------------------
def parse_model_args(items: list[str]) -> dict[str, Any]:
    """`["width_mult=0.25"]` -> {"width_mult": 0.25} (values parsed as YAML scalars)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--model-arg '{item}': expected KEY=VALUE")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise UserError(f"--model-arg '{item}': cannot parse the value") from None
    return out


def model_ref(name_or_path: str) -> str | dict[str, Any]:
    """What identifies a model in a run: its registry name, or the arch itself for a file."""
    from nas.models.registry import get_entry, is_arch_path

    if is_arch_path(name_or_path):
        from nas.arch import load_arch

        return dict(load_arch(name_or_path))
    get_entry(name_or_path)  # unknown names fail now, listing close matches
    return name_or_path


def build_model(ref: str | dict[str, Any], num_classes: int, model_args: dict[str, Any]):
    from nas.models.registry import create_model

    if isinstance(ref, dict):
        import search_spaces

        space = search_spaces.get(str(ref.get("space")))
        return space.build(space.validate(ref), num_classes)
    return create_model(ref, num_classes=num_classes, **model_args)


def model_label(ref: str | dict[str, Any]) -> str:
    return ref if isinstance(ref, str) else f"{ref.get('space', 'arch')}-arch"


def _data_source(data: str) -> str:
    return data if data == "synth" else str(Path(data).expanduser().resolve())


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "iterations": args.iters,
        "batch_size": args.batch_size,
        "crop": parse_hw(args.crop) if args.crop else None,
        "lr": args.lr,
        "seed": args.seed,
        "device": args.device,
        "num_workers": args.workers,
        "eval_every": args.eval_every,
        "ckpt_every": args.ckpt_every,
        "log_every": args.log_every,
    }


# ----- nas train ----------------------------------------------------------------------------
def run_train(args: argparse.Namespace) -> int:
    from nas.data import build_dataset
    from nas.runs import load_config, run_dir
    from nas.train.boosters import BoosterLoss, boost
    from nas.train.boosters.cli import booster_config
    from nas.train.distributed import barrier, broadcast_object, setup, teardown
    from nas.train.trainer import Trainer, check_identity, seed_everything

    saved = load_config(Path(args.resume)) if args.resume else None
    boosters = booster_config(args, saved)
    if args.resume:
        folder = Path(args.resume)
        saved = load_config(folder)
        if args.config:
            raise UserError("--config cannot be combined with --resume (the run keeps its own)")
        try:
            base = TrainConfig.from_dict(saved.get("train", {}), str(folder / "config.yaml"))
        except UserError as err:
            raise UserError(f"cannot resume: {err}") from None
        ref = model_ref(args.model) if args.model else saved.get("model")
        model_args = (
            parse_model_args(args.model_arg) if args.model_arg else saved.get("model_args", {})
        )
        num_classes = args.num_classes or saved.get("num_classes")
        identity = {"model": ref, "num_classes": num_classes, "model_args": model_args,
                    **_booster_identity(boosters)}
        check_identity(folder, saved, identity)  # before building data: fail in a second
        data = _data_source(args.data) if args.data else saved.get("data")
    else:
        if not args.model or not args.data:
            raise UserError("nas train: --model and --data are required (or --resume RUN_DIR)")
        base = load_train_config(args.config) if args.config else TrainConfig()
        ref = model_ref(args.model)
        model_args = parse_model_args(args.model_arg)
        data = _data_source(args.data)
        num_classes = args.num_classes
        folder = None
    cfg = base.replace("command line", **_overrides(args))

    info = setup(cfg.device)
    try:
        if not info.is_main:
            barrier()  # rank 0 opens (and may generate) the data first
        train_set = build_dataset(
            data, "train", crop_hw=tuple(cfg.crop), augment=True, scales=tuple(cfg.scales),
            seed=cfg.seed,
        )
        try:
            val_set = build_dataset(data, "val", crop_hw=tuple(cfg.eval_crop) or None)
        except UserError as err:
            if info.is_main:
                print(f"warning: no val split ({err}); skipping evaluation", file=sys.stderr)
            val_set = None
        if info.is_main:
            barrier()
        num_classes = int(num_classes or train_set.num_classes)
        identity = {"model": ref, "num_classes": num_classes, "model_args": model_args,
                    **_booster_identity(boosters)}
        if boosters.slimmable and info.enabled:
            raise UserError("--slimmable runs several widths per step; train it in one process "
                            "(not under torchrun)")
        if folder is None:
            # the auto name holds the time: every rank must use rank 0's
            folder = broadcast_object(run_dir(args.name, "train", model_label(ref)), info)
        seed_everything(cfg.seed)
        model = boost(build_model(ref, num_classes, model_args), boosters)
        run_config = {**identity, "data": data, "train": cfg.as_dict()}
        if info.is_main:
            verb = "resuming" if args.resume else "training"
            print(f"{verb} {model_label(ref)} on {data}: writing to {folder}/", flush=True)
        trainer = Trainer(
            model, train_set, cfg, folder, identity=identity, num_classes=num_classes,
            val_set=val_set, run_config=run_config, info=info,
            progress=not args.no_progress,
            extra_loss=BoosterLoss(boosters) if boosters.enabled else None,
        )
        summary = trainer.fit(resume=bool(args.resume))
        if boosters.slimmable and info.is_main:
            from nas.io import atomic_write_json
            from nas.train.boosters.cli import finish_slimmable

            summary["slim"] = finish_slimmable(
                model, Path(folder), ref=ref, model_args=model_args, num_classes=num_classes,
                val_set=val_set)
            atomic_write_json(Path(folder) / "summary.json", summary)
    finally:
        teardown()
    if info.is_main:
        miou = summary.get("miou")
        score = f"; val mIoU {miou:.4f}" if isinstance(miou, float) else ""
        print(f"wrote {folder}/ ({summary['iterations']} iterations{score})")
    return 0


def _booster_identity(boosters: Any) -> dict[str, Any]:
    """Boosters change the trained module (heads, switchable BN), so they are identity; a run
    without any keeps the identity it always had."""
    return {"boosters": boosters.as_dict()} if boosters.enabled else {}


# ----- nas eval -----------------------------------------------------------------------------
def run_eval(args: argparse.Namespace) -> int:
    import torch

    from nas.data import build_dataset
    from nas.io import atomic_write_json
    from nas.runs import load_config, run_dir, save_config
    from nas.train.checkpoint import load_checkpoint
    from nas.train.distributed import DistInfo
    from nas.train.evaluate import evaluate, scores

    if bool(args.run) == bool(args.model):
        raise UserError("nas eval: give either --run RUN_DIR or --model NAME --weights FILE")
    if args.run:
        folder = Path(args.run)
        saved = load_config(folder)
        ref, model_args = saved.get("model"), saved.get("model_args", {})
        boosters = saved.get("boosters")
        num_classes = int(saved.get("num_classes"))
        data = _data_source(args.data) if args.data else saved.get("data")
        state = load_checkpoint(folder / "checkpoints")
        weights, weights_from = state["model"], state["path"]
        out_file = folder / f"eval-{args.split}.json"
    else:
        if not args.weights or not args.data:
            raise UserError("nas eval: --model needs --weights FILE and --data DIR|synth")
        ref, model_args = model_ref(args.model), parse_model_args(args.model_arg)
        data, num_classes = _data_source(args.data), args.num_classes
        weights, weights_from = _load_weights(Path(args.weights)), args.weights
        boosters = None
        folder = run_dir(args.name, "eval", model_label(ref))
        out_file = folder / "summary.json"

    crop = tuple(parse_hw(args.crop)) if args.crop else None
    dataset = build_dataset(data, args.split, crop_hw=crop)
    num_classes = int(num_classes or dataset.num_classes)
    model = build_model(ref, num_classes, model_args)
    if boosters:  # the run trained a boosted module: same structure, then its inference net
        from nas.train.boosters import BoosterConfig, boost, set_width

        bcfg = BoosterConfig.from_dict(boosters, f"{args.run}/config.yaml: 'boosters'")
        model = boost(model, bcfg)
        if bcfg.slimmable:
            set_width(model, 1.0 if args.width is None else args.width)
    elif args.width is not None:
        raise UserError("--width applies to a run trained with --slimmable")
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise UserError(
            f"{weights_from}: weights do not fit {model_label(ref)} ({len(missing)} missing,"
            f" {len(unexpected)} unexpected keys, e.g. {(missing or unexpected)[0]})"
        )
    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available; use --device cpu")
    model.to(device)
    cm = evaluate(model, dataset, num_classes, info=DistInfo(device=device))
    result = {
        "model": ref, "num_classes": num_classes, "data": data, "split": args.split,
        "weights": str(weights_from), "images": len(dataset),
        **scores(cm, getattr(dataset, "class_names", None)),
    }
    if not args.run:
        save_config(folder, {k: result[k] for k in ("model", "num_classes", "data", "split")})
    atomic_write_json(out_file, result)
    _print_scores(result)
    print(f"wrote {out_file}")
    return 0


def _load_weights(path: Path) -> dict[str, Any]:
    """A state_dict from a nas checkpoint or from a plain `torch.save(model.state_dict())`."""
    import torch

    if not path.is_file():
        raise UserError(f"{path}: weights file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise UserError(f"{path}: not a readable weights file ({type(err).__name__})") from None
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(hasattr(v, "shape") for v in obj.values()):
        raise UserError(f"{path}: expected a state_dict or a nas checkpoint")
    return obj


def _print_scores(result: dict[str, Any]) -> None:
    width = max([len(n) for n in result["iou"]] + [5])
    for name, v in result["iou"].items():
        print(f"  {name:<{width}}  {'-' if v is None else f'{100 * v:6.2f}'}")
    miou = result["miou"]
    print(f"  {'mIoU':<{width}}  {'-' if miou is None else f'{100 * miou:6.2f}'}")
