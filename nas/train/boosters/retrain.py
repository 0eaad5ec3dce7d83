"""`nas retrain RUN --detail-guidance --boundary`: the search's fine-tuning with boosters.

The same stage as `nas.search.retrain.retrain_run` (inherited weights, KL self-distillation from
the pretrained supernet, aux heads, poly LR) with the booster heads hooked onto the subnet and
their losses added. When the stage finishes, `fit_stage` re-writes the checkpoint with the
subnet's own weights only, so `nas export` / `nas eval` read it like any retrain (the boosted
checkpoint stays as `prev.pt`, the heads in `booster_heads.pt`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from nas.errors import UserError
from nas.runs import load_config
from nas.train.boosters.config import BoosterConfig, boost
from nas.train.boosters.loss import BoosterLoss
from nas.train.boosters.search import strip_checkpoint

STAGE = "retrain"


def saved_boosters(folder: Path, *, resume: bool) -> BoosterConfig | None:
    """Boosters when `nas retrain` has no booster flags: those a killed retrain of `folder` was
    started with (on `--resume`), else those `nas search` recorded in `boosters.yaml`."""
    import yaml

    from nas.train.boosters.cli import SEARCH_BOOSTERS

    path = folder / STAGE / "config.yaml"
    if resume and path.is_file():
        data = load_config(folder / STAGE).get("boosters")
        return BoosterConfig.from_dict(data, f"{path}: 'boosters'") if data else None
    path = folder / SEARCH_BOOSTERS
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        raise UserError(f"{path}: not valid YAML") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of booster options")
    return BoosterConfig.from_dict(data, str(path))


def retrain_boosted(folder: Path, boosters: BoosterConfig, *, iterations: int | None = None,
                    train_device: str | None = None, resume: bool = False,
                    progress: bool = True) -> dict[str, Any]:
    """Fine-tune the subnet of `folder` with `boosters` into `folder/retrain/`."""
    import search_spaces
    from nas.search.gradient import write_summary
    from nas.search.retrain import load_teacher, open_search_run
    from nas.search.stages import fit_stage, stage_data, stage_done

    saved, cfg, arch = open_search_run(folder)
    rcfg = cfg.retrain.replace("command line", iterations=iterations, device=train_device)
    n_cls = int(saved["num_classes"])
    subnet = search_spaces.get(cfg.space).build(arch, n_cls)
    subnet.load_state_dict(torch.load(folder / "subnet.pt", weights_only=True))
    out = folder / STAGE
    if resume and stage_done(out, rcfg):
        result = json.loads((out / "summary.json").read_text())
        strip_checkpoint(boost(subnet, boosters), out)  # a kill may have come before the strip
        print(f"[{STAGE}] already done ({result['iterations']} iterations): {out}/", flush=True)
    else:
        model = boost(subnet, boosters)
        identity = {"space": cfg.space, "num_classes": n_cls, "stage": STAGE,
                    "arch": json.loads(json.dumps(arch)), "boosters": boosters.as_dict()}
        result = fit_stage(STAGE, model, rcfg, out, stage_data(saved["data"], rcfg),
                           identity=identity, resume=resume, progress=progress,
                           teacher=load_teacher(folder, cfg, n_cls),
                           extra_loss=BoosterLoss(boosters))
    summary = json.loads((folder / "summary.json").read_text())
    if not summary.get("retrained"):
        summary["miou_before_retrain"] = summary.get("miou")
    summary.update(miou=result.get("miou"), retrained=True, retrain_iterations=rcfg.iterations,
                   weights=f"{STAGE}/checkpoints/last.pt", retrain_boosters=boosters.as_dict())
    write_summary(folder, summary)
    return summary
