"""What an Optuna search leaves besides the study: trials CSV, Pareto plot, the chosen trial.

The chosen trial is the feasible one (predicted latency <= target) with the best proxy mIoU; in a
multi-objective study it is taken from the Pareto front, which is also written out whole, so the
user can pick another trade-off from `pareto` in summary.json.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from nas.io import atomic_write_text

TRIALS_CSV = "trials.csv"
PARETO_PNG = "plots/pareto.png"


def finished(study: Any) -> list[Any]:
    """Trials that trained to the end or were rejected by the predictor (both are COMPLETE)."""
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def is_feasible(trial: Any) -> bool:
    return bool(trial.constraints) and all(v <= 0 for v in trial.constraints.values())


def miou_of(trial: Any) -> float:
    return float(trial.values[0]) if trial.values else float("nan")


def pick_best(study: Any) -> Any | None:
    """The feasible, trained trial with the highest mIoU (Pareto front first when multi-obj)."""
    pool = study.best_trials if len(study.directions) > 1 else finished(study)
    pool = [t for t in pool if is_feasible(t) and t.user_attrs.get("trained")]
    pool = [t for t in pool if math.isfinite(miou_of(t))]
    if not pool:
        return None
    return max(pool, key=lambda t: (miou_of(t), -t.user_attrs.get("predicted_ms", 0.0)))


def write_trials_csv(study: Any, folder: Path) -> Path:
    """One row per trial: number, state, values, params, predicted latency, feasibility."""
    df = study.trials_dataframe(attrs=("number", "state", "values", "params", "user_attrs",
                                       "duration"))
    trials = study.get_trials(deepcopy=False)
    if len(df) == len(trials):  # predicted minus target: > 0 means over the latency target
        df["constraint_latency_ms"] = [t.constraints.get("latency_ms") for t in trials]
        df["feasible"] = [is_feasible(t) for t in trials]
    if "user_attrs_arch" in df.columns:  # the arch is in the study and in each trial's folder
        df = df.drop(columns=["user_attrs_arch"])
    return atomic_write_text(folder / TRIALS_CSV, df.to_csv(index=False))


def pareto_points(study: Any) -> list[dict[str, Any]]:
    """(number, miou, predicted_ms) of the non-dominated feasible trials."""
    trials = [t for t in finished(study) if t.user_attrs.get("trained") and is_feasible(t)]
    pts = [(t.number, miou_of(t), float(t.user_attrs["predicted_ms"])) for t in trials]
    pts = [p for p in pts if math.isfinite(p[1])]

    def dominated(p: tuple[int, float, float]) -> bool:
        return any(q[1] >= p[1] and q[2] <= p[2] and (q[1], q[2]) != (p[1], p[2]) for q in pts)

    front = sorted((p for p in pts if not dominated(p)), key=lambda p: p[2])
    return [{"trial": n, "miou": m, "predicted_ms": ms} for n, m, ms in front]


def plot_pareto(study: Any, folder: Path, target_ms: float) -> Path:
    """mIoU against predicted latency: every trained trial, the front, the target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trained = [t for t in finished(study) if t.user_attrs.get("trained")]
    rejected = [t for t in finished(study) if not t.user_attrs.get("trained")]
    front = pareto_points(study)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter([t.user_attrs["predicted_ms"] for t in trained],
               [100 * miou_of(t) for t in trained], s=14, color="tab:blue", label="trained")
    if rejected:
        ax.scatter([t.user_attrs["predicted_ms"] for t in rejected], [0.0] * len(rejected),
                   s=10, marker="x", color="gray", label="rejected by the predictor")
    if front:
        ax.plot([p["predicted_ms"] for p in front], [100 * p["miou"] for p in front], "o-",
                color="tab:red", label="Pareto front (feasible)")
    ax.axvline(target_ms, color="red", linestyle="--", label=f"target {target_ms:g} ms")
    ax.set_xlabel("predicted latency (ms)")
    ax.set_ylabel("proxy val mIoU (%)")
    ax.set_title(f"study '{study.study_name}': {len(trained)} trained, {len(rejected)} rejected")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = folder / PARETO_PNG
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def trial_arch(trial: Any) -> dict[str, Any]:
    return json.loads(trial.user_attrs["arch"])
