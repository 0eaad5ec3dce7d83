"""The end of an Optuna search: trials.csv, the Pareto plot, the best arch and summary.json."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from nas.errors import UserError
from nas.search.optuna_options import OptunaOptions


def finish(req: Any, opts: OptunaOptions, study: Any, storage_url: str, space: Any, n_cls: int,
           t_start: float, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """trials.csv, the Pareto plot, then arch.json / subnet.pt / summary.json of the best."""
    import torch

    from nas.arch import save_arch
    from nas.export.measure import measure_ms
    from nas.io import atomic_torch_save, atomic_write_json
    from nas.models.counting import count_macs, count_params
    from nas.search.optuna_report import (
        pareto_points,
        pick_best,
        plot_pareto,
        trial_arch,
        write_trials_csv,
    )
    from nas.search.optuna_study import redact
    from nas.train.checkpoint import load_checkpoint

    folder, hw, target = req.folder, req.input_hw, float(req.target_ms)
    csv = write_trials_csv(study, folder)
    plot = plot_pareto(study, folder, target)
    states: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        states[t.state.name.lower()] = states.get(t.state.name.lower(), 0) + 1
    best = pick_best(study)
    if best is None:
        raise UserError(f"no trained trial met --target-ms {target:g} in study "
                        f"'{study.study_name}' ({states}); run more --trials or raise the target "
                        f"(trials in {csv})")
    arch = trial_arch(best)
    save_arch(arch, folder / "arch.json")
    subnet = space.build(arch, n_cls)
    weights = None
    trial_dir = Path(best.user_attrs.get("folder") or "/nonexistent")
    if (trial_dir / "subnet.pt").is_file():  # a gradient search (--tune) on this worker
        subnet.load_state_dict(torch.load(trial_dir / "subnet.pt", weights_only=True))
    elif (trial_dir / "checkpoints").is_dir():  # a proxy training on this worker
        subnet.load_state_dict(load_checkpoint(trial_dir / "checkpoints")["model"])
    else:
        trial_dir = None  # trained by another worker: the arch only
    if trial_dir is not None:
        atomic_torch_save(folder / "subnet.pt", subnet.state_dict())
        weights = "subnet.pt"
    measured, how = None, "not measured (--no-measure)"
    if req.measure:
        measured, how = measure_ms(subnet, hw, req.device, rounds=5)
    summary = {
        "driver": "optuna", "space": space.name, "device": req.device, "input_size": list(hw),
        "data": req.data, "num_classes": n_cls, "target_ms": target,
        "predicted_ms": best.user_attrs["predicted_ms"],
        "measured_ms": None if measured is None else round(measured, 4), "measured_by": how,
        "miou": best.values[0], "params": count_params(subnet),
        "macs": count_macs(subnet, (1, 3, *hw))[0],
        "best_trial": best.number, "best_params": best.params,
        "objectives": list(opts.objectives), "trials": states,
        "study": study.study_name, "storage": redact(storage_url),
        "pareto": pareto_points(study),
        "arch": "arch.json", "weights": weights, "trials_csv": csv.name,
        "plots": [str(plot.relative_to(folder))], **(extra or {}),
        "time_s": round(time.perf_counter() - t_start, 1),
    }
    if space.name == "ffnet":  # what `nas retrain RUN` fine-tunes with (optuna_retrain.py)
        from nas.search.gradient import _data_source

        summary["retrain_config"] = {"data": _data_source(req.data),
                                     "train": req.cfg.retrain.as_dict()}
    atomic_write_json(folder / "summary.json", summary)
    meas = "n/a" if measured is None else f"{measured:.3f} ms"
    print(f"best: trial {best.number}, predicted {summary['predicted_ms']:.3f} ms, measured "
          f"{meas} (target {target:g} ms); {summary['params'] / 1e6:.3f} M params, "
          f"{summary['macs'] / 1e9:.3f} GMACs; proxy val mIoU {100 * summary['miou']:.2f}%",
          flush=True)
    print(f"wrote {folder}/: config.yaml arch.json summary.json {csv.name} "
          f"{summary['plots'][0]}{' subnet.pt' if weights else ''}", flush=True)
    return summary
