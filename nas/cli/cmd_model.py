"""`nas model info|list`: what a registered model (or an arch.json) costs, and which models exist.

`info` counts on the meta device (nas/models/counting.py), so even the paper-sized networks at
512x1024 are counted in about a second and the figures are the ones every table in the project
uses: params outside `aux_heads`, Conv/Linear MACs per image.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re

from nas.errors import UserError

_HW = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")
_ARCH_DEFAULT_HW = (512, 1024)
_DEFAULT_CLASSES = 19


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("model", help="inspect the registered models")
    sub = parser.add_subparsers(dest="model_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: _help(parser))

    info = sub.add_parser("info", help="params, MACs and output shape of a model or arch.json")
    info.add_argument("model", metavar="NAME_OR_ARCH_JSON", help="registered name or arch file")
    info.add_argument(
        "--input-size", metavar="HxW", default=None,
        help="input height x width, e.g. 512x1024 (default: the size the model is reported at)",
    )
    info.add_argument(
        "--num-classes", type=int, default=None,
        help="output classes (default: the model's own, 19 for Cityscapes, 1000 for ImageNet)",
    )
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(func=run_info)

    listing = sub.add_parser("list", help="list the registered models")
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    listing.set_defaults(func=run_list)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def parse_hw(text: str) -> tuple[int, int]:
    """'512x1024' -> (512, 1024); anything else is a `UserError` naming the option."""
    match = _HW.match(text)
    if not match or int(match[1]) < 1 or int(match[2]) < 1:
        raise UserError(f"--input-size: expected HxW with positive integers (e.g. 512x1024), got {text!r}")
    return int(match[1]), int(match[2])


def _default_classes(factory: object) -> int:
    """The factory's own `num_classes` default (1000 for an ImageNet classifier), else 19."""
    try:
        param = inspect.signature(factory).parameters.get("num_classes")  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return _DEFAULT_CLASSES
    if param is None or not isinstance(param.default, int):
        return _DEFAULT_CLASSES
    return param.default


def run_info(args: argparse.Namespace) -> int:
    from nas.models.counting import profile_model
    from nas.models.registry import create_model, get_entry, is_arch_path

    if args.num_classes is not None and args.num_classes < 1:
        raise UserError(f"--num-classes: expected a positive integer, got {args.num_classes}")
    hw = parse_hw(args.input_size) if args.input_size is not None else None
    if is_arch_path(args.model):
        hw = hw or _ARCH_DEFAULT_HW
        classes = args.num_classes or _DEFAULT_CLASSES
    else:
        entry = get_entry(args.model)
        hw = hw or entry.input_hw
        classes = args.num_classes or _default_classes(entry.factory)
    model = create_model(args.model, num_classes=classes)
    try:
        profile = profile_model(model, hw)
    except RuntimeError as err:
        if args.input_size is None:  # the model's own size failing is a bug: keep the traceback
            raise
        # e.g. an input too small for the network's pooling
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise UserError(f"--input-size {hw[0]}x{hw[1]}: the model cannot run on it ({first})") from None
    if args.json:
        print(json.dumps(profile.as_dict()))
        return 0
    rows = [
        ("model", args.model),
        ("input", f"1x3x{hw[0]}x{hw[1]}"),
        ("classes", str(classes)),
        ("params", f"{profile.params / 1e6:.3f} M ({profile.params:,})"),
        ("MACs", f"{profile.macs / 1e9:.3f} G ({profile.macs:,})"),
        ("output shape", str(profile.output_shape)),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from nas.models.registry import list_models

    entries = list_models()
    if args.json:
        print(json.dumps([
            {"name": e.name, "family": e.family, "input_hw": list(e.input_hw),
             "description": e.description}
            for e in entries
        ]))
        return 0
    table = [("NAME", "FAMILY", "INPUT", "DESCRIPTION")]
    table += [(e.name, e.family, f"{e.input_hw[0]}x{e.input_hw[1]}", e.description) for e in entries]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for row in table:
        print("  ".join(f"{cell:<{w}}" for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3])
    return 0
