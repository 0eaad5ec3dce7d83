"""The booster flags shared by `nas train`, `nas retrain` and `nas search`, and what a run does
with them after training (per-width evaluation and export of a slimmable run)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch.nn as nn

from nas.errors import UserError
from nas.train.boosters.config import BoosterConfig


def add_booster_flags(parser: argparse.ArgumentParser, *, slimmable: bool = True,
                      search: bool = False) -> None:
    """Add --detail-guidance, --boundary (and --slimmable, --slim-widths) to a sub-command.

    `search`: the flags of `nas search`, whose drivers train with the heads in every stage and
    trial; its --slimmable exists only to be refused with the way to get a slimmable network.
    """
    group = parser.add_argument_group("training boosters (training only: no inference cost)")
    where = "; trained in every stage or trial of the search" if search else ""
    group.add_argument("--detail-guidance", action="store_true",
                       help="STDC detail guidance: detail head on the 1/8 feature, BCE + Dice"
                            + where)
    group.add_argument("--boundary", action="store_true",
                       help="SlimSeg boundary head (L_b) and boundary-guided loss (L_g)" + where)
    if search:
        group.add_argument("--slimmable", action="store_true",
                           help="not for a search (refused): a search picks one width per "
                                "layer itself; train the found arch with `nas train --model "
                                "RUN/arch.json --slimmable`")
    elif slimmable:
        group.add_argument("--slimmable", action="store_true",
                           help="SlimSeg: train every width with its own BN, stepwise KD; "
                                "each width is exported to slim/w<width>/")
        group.add_argument("--slim-widths", metavar="W,W,...",
                           help="slimmable widths (default 0.25,0.5,0.75,1.0)")


def booster_config(args: argparse.Namespace, saved: dict[str, Any] | None = None
                   ) -> BoosterConfig:
    """The run's boosters: from the flags, or (flags absent) from a resumed run's config."""
    slim = bool(getattr(args, "slimmable", False))
    widths = getattr(args, "slim_widths", None)
    if widths and not slim:
        raise UserError("--slim-widths needs --slimmable")
    flagged = args.detail_guidance or args.boundary or slim
    if not flagged and saved and saved.get("boosters"):
        return BoosterConfig.from_dict(saved["boosters"], "config.yaml: 'boosters'")
    data: dict[str, Any] = {"detail": args.detail_guidance, "boundary": args.boundary,
                            "slimmable": slim}
    if widths:
        try:
            data["widths"] = [float(w) for w in str(widths).split(",")]
        except ValueError:
            raise UserError(f"--slim-widths '{widths}': expected numbers like 0.5,1.0") from None
    return BoosterConfig.from_dict(data, "--slim-widths")


def finish_slimmable(
    model: nn.Module, folder: Path, *, ref: str | dict[str, Any], model_args: dict[str, Any],
    num_classes: int, val_set: Any,
) -> dict[str, Any]:
    """Export every width to `folder/slim/` and evaluate each; returns {width: {miou, ...}}."""
    from nas.models.counting import count_params
    from nas.train.boosters.export import export_widths, load_slim
    from nas.train.evaluate import evaluate, scores

    result: dict[str, Any] = {}
    for w, where in export_widths(model, folder, ref=ref, model_args=model_args,
                                  num_classes=num_classes).items():
        net = load_slim(where)  # what a user gets back: proves the export round-trips
        rec: dict[str, Any] = {"folder": str(where), "params": count_params(net)}
        if val_set is not None:
            cm = evaluate(net, val_set, num_classes)
            rec.update(scores(cm, getattr(val_set, "class_names", None)))
        result[f"{w:g}"] = rec
        miou = rec.get("miou")
        print(f"  width x{w:g}: {rec['params'] / 1e6:.3f} M params"
              f"{'' if miou is None else f', val mIoU {100 * miou:.2f}%'} -> {where}/",
              file=sys.stderr, flush=True)
    return result


SEARCH_BOOSTERS = "boosters.yaml"


def search_boosters(args: argparse.Namespace) -> BoosterConfig | None:
    """Boosters given to `nas search`, checked before the search starts: every driver trains
    with them (gradient: pretrain and search stages; optuna: each trial's proxy training, or
    each inner gradient search with --tune; routing: its training), and a gradient search
    records them for its fine-tuning (`nas retrain RUN`)."""
    if getattr(args, "slimmable", False):
        raise UserError("--slimmable: applies to `nas train`, not to a search; train the found "
                        "arch with `nas train --model RUN/arch.json --slimmable`")
    if not (args.detail_guidance or args.boundary):
        return None
    return booster_config(args)


def record_boosters(folder: Path, boosters: BoosterConfig) -> None:
    """Write the search's boosters into its run folder for `nas retrain` to pick up."""
    import yaml

    from nas.io import atomic_write_text

    atomic_write_text(Path(folder) / SEARCH_BOOSTERS,
                      yaml.safe_dump(boosters.as_dict(), sort_keys=True))
    print(f"boosters {', '.join(boosters.heads())}: in the search's training, and recorded in "
          f"{folder}/{SEARCH_BOOSTERS} for `nas retrain`", flush=True)
