"""`nas retrain` and `nas export` for an Optuna FFNet run (`nas search --space ffnet`).

An FFNet study has no supernet: each trial trained its own network for the proxy budget and
the best one's weights became the run's `subnet.pt`. Retraining continues from them with the
search config's retrain stage, recorded in summary.json by the search. There is no teacher to
distil from (RTSeg's self-distillation needs the supernet) and FFNet has no auxiliary heads, so
the loss is plain cross-entropy. An outer `--tune` run is not a network of its own: its best
trial is a complete gradient search, which retrain and export take as is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from nas.errors import UserError

DRIVERS = ("optuna", "optuna-tune")


def is_optuna_run(saved: dict[str, Any]) -> bool:
    """Whether a run's config.yaml is an Optuna search's (FFNet study or `--tune` loop)."""
    return saved.get("driver") in DRIVERS


def open_optuna_run(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(summary, best arch) of a finished Optuna FFNet run; other Optuna runs fail in one line."""
    from nas.arch import load_arch
    from nas.runs import load_config

    saved = load_config(folder)
    done = (folder / "summary.json").is_file() and (folder / "arch.json").is_file()
    if saved.get("driver") == "optuna-tune":
        best = json.loads((folder / "summary.json").read_text())["best_trial"] if done else None
        where = f"{folder}/trials/{best:04d}" if best is not None else f"{folder}/trials/NNNN"
        raise UserError(f"{folder}: an Optuna --tune run has no network of its own; retrain and "
                        f"export its best trial, a gradient search run: {where}")
    if not is_optuna_run(saved):
        raise UserError(f"{folder}: not an Optuna search run (driver {saved.get('driver')!r})")
    if not done:
        raise UserError(f"{folder}: the Optuna search has not finished (no arch.json / "
                        "summary.json); finish it by re-running its `nas search` command")
    return json.loads((folder / "summary.json").read_text()), load_arch(folder / "arch.json")


def check_weights(folder: Path, summary: dict[str, Any]) -> None:
    """Refuse to export an arch with no trained weights on this machine."""
    if not summary.get("retrained") and not (folder / "subnet.pt").is_file():
        raise UserError(f"{folder}: no weights for the best arch (its trial was trained on "
                        f"another worker); train them first with `nas retrain {folder}`")


def retrain_optuna_run(folder: Path, *, iterations: int | None = None,
                       train_device: str | None = None, resume: bool = False,
                       progress: bool = True) -> dict[str, Any]:
    """Fine-tune the best arch of an FFNet study into `folder/retrain/`; update summary.json."""
    import search_spaces
    from nas.io import atomic_write_json
    from nas.search.stages import fit_stage, stage_data
    from nas.train import TrainConfig
    from nas.train.trainer import seed_everything

    summary, arch = open_optuna_run(folder)
    setup = summary.get("retrain_config")
    if not isinstance(setup, dict):
        raise UserError(f"{folder}/summary.json: no 'retrain_config' (written by searches since "
                        "`nas retrain` took Optuna runs); re-run its `nas search` command, "
                        "which rewrites the summary without training again")
    source = f"{folder}/summary.json: 'retrain_config'"
    rcfg = TrainConfig.from_dict(setup["train"], source).replace(
        "command line", iterations=iterations, device=train_device)
    space = search_spaces.get(str(summary["space"]))
    n_cls = int(summary["num_classes"])
    seed_everything(rcfg.seed)
    subnet = space.build(arch, n_cls)
    weights = folder / "subnet.pt"
    if weights.is_file():
        subnet.load_state_dict(torch.load(weights, weights_only=True))
        start = f"the best trial's weights ({weights.name})"
    else:
        start = "scratch (the best trial was trained on another worker)"
    print(f"[retrain] {space.name} arch of trial {summary.get('best_trial')} from {start}; "
          "cross-entropy only (an Optuna run has no supernet to distil from)", flush=True)
    data = stage_data(str(setup["data"]), rcfg)
    result = fit_stage("retrain", subnet, rcfg, folder / "retrain", data,
                       identity={"space": space.name, "num_classes": n_cls, "stage": "retrain",
                                 "arch": arch},
                       resume=resume, progress=progress)
    if not summary.get("retrained"):
        summary["miou_before_retrain"] = summary.get("miou")
    summary.update(miou=result.get("miou"), retrained=True, retrain_iterations=rcfg.iterations,
                   weights="retrain/checkpoints/last.pt")
    atomic_write_json(folder / "summary.json", summary)
    return summary
