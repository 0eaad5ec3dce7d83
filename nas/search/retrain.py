"""`nas retrain RUN`: fine-tune a search's derived subnet (RTSeg "Performance Boosters").

The subnet starts from the weights it inherited from the searched supernet (`subnet.pt`) and is
trained with SGD + poly LR on CE + gamma * aux-head CE + lambda * KL self-distillation, the
teacher being the pretrained supernet in plain mode (every channel, LIR everywhere): the "strong
supernet" of the paper, supervising both the main output and the auxiliary heads (eq. 10-12).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from nas.errors import UserError
from nas.runs import RUNS_ROOT, load_config
from nas.search.config import SearchConfig
from nas.search.stages import fit_stage, stage_data
from nas.train.checkpoint import load_checkpoint


def find_run(ref: str | Path) -> Path:
    """A search run folder from a path or a name under runs/."""
    path = Path(ref)
    if (path / "config.yaml").is_file():
        return path
    if (RUNS_ROOT / str(ref) / "config.yaml").is_file():
        return RUNS_ROOT / str(ref)
    raise UserError(f"{ref}: not a search run folder (no config.yaml here or in runs/{ref})")


def open_search_run(folder: Path) -> tuple[dict[str, Any], SearchConfig, dict[str, Any]]:
    """(saved run config, its SearchConfig, the derived arch) of a finished search."""
    from nas.arch import load_arch

    saved = load_config(folder)
    if saved.get("driver") != "gradient":
        raise UserError(f"{folder}: not a gradient search run (driver {saved.get('driver')!r})")
    if not (folder / "arch.json").is_file() or not (folder / "subnet.pt").is_file():
        raise UserError(f"{folder}: the search has not finished (no arch.json / subnet.pt); "
                        f"finish it with `nas search --name {folder.name} --resume ...`")
    cfg = SearchConfig.from_dict(saved["config"], str(folder / "config.yaml"))
    return saved, cfg, load_arch(folder / "arch.json")


def load_teacher(folder: Path, cfg: SearchConfig, num_classes: int) -> torch.nn.Module:
    """The pretrained supernet (plain mode, frozen) from `pretrain/checkpoints/`."""
    import search_spaces

    net = search_spaces.get(cfg.space).supernet(num_classes, **cfg.supernet)
    net.load_state_dict(load_checkpoint(folder / "pretrain" / "checkpoints")["model"])
    net.set_mode("plain")
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()


def retrain_run(folder: Path, *, iterations: int | None = None, train_device: str | None = None,
                resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Fine-tune the subnet of `folder` into `folder/retrain/`; update summary.json."""
    import search_spaces
    from nas.search.gradient import write_summary

    saved, cfg, arch = open_search_run(folder)
    rcfg = cfg.retrain.replace("command line", iterations=iterations, device=train_device)
    space = search_spaces.get(cfg.space)
    n_cls = int(saved["num_classes"])
    subnet = space.build(arch, n_cls)
    subnet.load_state_dict(torch.load(folder / "subnet.pt", weights_only=True))
    teacher = load_teacher(folder, cfg, n_cls)
    data = stage_data(saved["data"], rcfg)
    result = fit_stage("retrain", subnet, rcfg, folder / "retrain", data,
                       identity={"space": cfg.space, "num_classes": n_cls, "stage": "retrain",
                                 "arch": json.loads(json.dumps(arch))},
                       resume=resume, progress=progress, teacher=teacher)
    summary = json.loads((folder / "summary.json").read_text())
    if not summary.get("retrained"):
        summary["miou_before_retrain"] = summary.get("miou")
    summary.update(miou=result.get("miou"), retrained=True, retrain_iterations=rcfg.iterations,
                   weights="retrain/checkpoints/last.pt")
    write_summary(folder, summary)
    return summary


def subnet_weights(folder: Path) -> tuple[dict[str, torch.Tensor], str]:
    """The best weights a run has for its subnet: retrained if it was, else the inherited ones."""
    last = folder / "retrain" / "checkpoints"
    summary = json.loads((folder / "summary.json").read_text())
    if summary.get("retrained") and last.is_dir():
        state = load_checkpoint(last)
        return state["model"], state["path"]
    return torch.load(folder / "subnet.pt", weights_only=True), str(folder / "subnet.pt")
