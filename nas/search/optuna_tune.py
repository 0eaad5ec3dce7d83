"""`nas search --space rtseg --tune beta,lr,tau`: Optuna over the gradient search's knobs.

Each trial is one short gradient search (nas/search/gradient.py's `run_gradient_search`, called
as a function) in `trials/<n>/` with the trial's hyper-parameters; the objective is its derived
subnet's val mIoU, the constraint its predicted latency <= target (`trial.set_constraint`). The
ranges are relative to the preset's values, so they scale with whatever the preset tunes for.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from nas.errors import UserError, unknown_name
from nas.search.optuna_loop import open_run_study, run_trials
from nas.search.optuna_options import OptunaOptions, identity_train, jsonable
from nas.search.optuna_outputs import finish

# name -> what it sets and its range as factors of the preset's value (log scale)
TUNABLE: dict[str, str] = {
    "beta": "latency loss weight (RTSeg eq. 12), x[0.1, 10]",
    "lr": "search-stage weight learning rate, x[0.2, 5]",
    "arch_lr": "gate/logit learning rate, x[0.2, 5]",
    "tau": "initial Gumbel temperature tau_start, in [tau_end, 10]",
}


def parse_tune(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise UserError(f"--tune {text!r}: expected names from {', '.join(TUNABLE)}")
    for n in names:
        if n not in TUNABLE:
            raise unknown_name("--tune parameter", n, TUNABLE)
    return names


def suggest_config(trial: Any, base: Any, names: tuple[str, ...]) -> Any:
    """The preset's SearchConfig with the trial's values for the tuned knobs."""
    changes: dict[str, Any] = {}
    if "beta" in names:
        b = base.beta if base.beta > 0 else 1.0
        changes["beta"] = trial.suggest_float("beta", b / 10, b * 10, log=True)
    if "arch_lr" in names:
        changes["arch_lr"] = trial.suggest_float("arch_lr", base.arch_lr / 5, base.arch_lr * 5,
                                                 log=True)
    if "tau" in names:
        changes["tau_start"] = trial.suggest_float("tau", base.tau_end, max(10.0, base.tau_start))
    if "lr" in names:
        lr = trial.suggest_float("lr", base.search.lr / 5, base.search.lr * 5, log=True)
        changes["search"] = base.search.replace("--tune", lr=lr).as_dict()
    return base.replace(**changes)


def run_tuning(req: Any, opts: OptunaOptions) -> dict[str, Any]:
    """Run (or continue) the outer study; the best trial's arch and weights become the run's."""
    import optuna

    import search_spaces
    from latency.predictors import load_for_device
    from nas.search.gradient import run_gradient_search
    from nas.search.latency_loss import predicted_ms
    from nas.train.trainer import NonFiniteLoss

    if req.space != "rtseg":
        raise UserError(f"--tune: tunes the gradient search (rtseg); --space {req.space} is "
                        "searched by the optuna driver directly")
    t_start = time.perf_counter()
    target = float(req.target_ms)
    cfg = req.cfg.as_dict()
    for stage in ("pretrain", "search", "retrain"):
        cfg[stage] = identity_train(getattr(req.cfg, stage))
    identity = jsonable({
        "driver": "optuna-tune", "space": req.space, "target_ms": target, "device": req.device,
        "input_size": list(req.input_hw), "objectives": ["miou"], "tune": list(opts.tune),
        "config": cfg,
    })
    single = dataclasses.replace(opts, objectives=("miou",))
    study, url = open_run_study(req, single, identity, pruner=optuna.pruners.NopPruner())
    space = search_spaces.get(req.space)
    n_cls_box: list[int] = []

    def objective(trial: optuna.Trial) -> float:
        sub_cfg = suggest_config(trial, req.cfg, opts.tune)
        folder = req.folder / "trials" / f"{trial.number:04d}"
        trial.set_user_attr("folder", str(folder))
        sub = dataclasses.replace(req, cfg=sub_cfg, folder=folder, resume=False, measure=False,
                                  progress=False)
        s = run_gradient_search(sub)
        n_cls_box[:] = [int(s["num_classes"])]
        arch = json.loads((folder / "arch.json").read_text())
        # unrounded (summary.json rounds to 0.1 us): the constraint is checked at full precision
        pred = predicted_ms(load_for_device(req.device), space, arch, req.input_hw,
                            n_cls_box[0])
        trial.set_user_attr("arch", json.dumps(arch))
        trial.set_user_attr("predicted_ms", round(pred, 5))
        trial.set_user_attr("trained", True)
        trial.set_constraint("latency_ms", pred - target)  # feasible when <= 0
        miou = s.get("miou")
        return float(miou) if isinstance(miou, float) else 0.0

    run_trials(study, objective, single, catch=(NonFiniteLoss,))
    n_cls = n_cls_box[0] if n_cls_box else _num_classes(study)
    return finish(req, single, study, url, space, n_cls, t_start,
                  extra={"tuned": list(opts.tune)})


def _num_classes(study: Any) -> int:
    """Classes of a finished study's runs (when this invocation ran no trial itself)."""
    from pathlib import Path

    from nas.runs import load_config

    for t in study.get_trials(deepcopy=False):
        folder = t.user_attrs.get("folder")
        if folder and (Path(folder) / "config.yaml").is_file():
            return int(load_config(folder)["num_classes"])
    return 19
