"""What a search leaves in `runs/<name>/` besides the stage folders: merged metrics, plots.

Each stage (pretrain/, search/, retrain/) is a `Trainer` run folder with its own metrics.jsonl;
the run's top-level metrics.jsonl is their concatenation tagged with `stage`, plus the search's
per-step expected latency (`kind: latency`), so one file tells the whole story.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nas.io import atomic_write_text
from nas.runs import read_jsonl

STAGE_DIRS = ("pretrain", "search", "retrain")
LATENCY_LOG = "latency.jsonl"


def merge_metrics(folder: Path) -> Path:
    """Write `folder/metrics.jsonl` from the stages' metrics and the search's latency log."""
    lines = []
    for stage in STAGE_DIRS:
        recs = read_jsonl(folder / stage / "metrics.jsonl")
        if stage == "search":
            recs += read_jsonl(folder / stage / LATENCY_LOG)
            recs.sort(key=lambda r: (r.get("iter", 0), r.get("kind") != "latency"))
        lines += [json.dumps({"stage": stage, **r}) for r in recs]
    return atomic_write_text(folder / "metrics.jsonl", "".join(f"{x}\n" for x in lines))


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_search(folder: Path, target_ms: float) -> Path | None:
    """Expected latency of the supernet over the search steps, against the target."""
    recs = read_jsonl(folder / "search" / LATENCY_LOG)
    if not recs:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([r["iter"] for r in recs], [r["expected_ms"] for r in recs], label="expected (soft)")
    ax.axhline(target_ms, color="red", linestyle="--", label=f"target {target_ms:g} ms")
    ax.set_xlabel("search iteration")
    ax.set_ylabel("predicted latency (ms)")
    ax.set_title("latency during the search (RTSeg eq. 9)")
    ax.legend()
    fig.tight_layout()
    out = folder / "plots" / "search_latency.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_summary(folder: Path, summary: dict[str, Any]) -> Path:
    """Subnet against supernet: latency (predicted and measured) with the target, and mIoU."""
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    names = ["supernet", "subnet"]
    pred = [summary.get("supernet_predicted_ms") or 0.0, summary.get("predicted_ms") or 0.0]
    meas = [summary.get("supernet_measured_ms") or 0.0, summary.get("measured_ms") or 0.0]
    x = range(len(names))
    ax1.bar([i - 0.2 for i in x], pred, width=0.4, label="predicted")
    ax1.bar([i + 0.2 for i in x], meas, width=0.4, label="measured")
    ax1.axhline(summary["target_ms"], color="red", linestyle="--",
                label=f"target {summary['target_ms']:g} ms")
    ax1.set_xticks(list(x), names)
    ax1.set_ylabel(f"latency on {summary.get('device')} (ms)")
    ax1.legend(fontsize=8, loc="lower left")
    miou = [summary.get("supernet_miou") or 0.0, summary.get("miou") or 0.0]
    ax2.bar(names, [100 * m for m in miou], color=["gray", "tab:green"])
    ax2.set_ylabel("val mIoU (%)")
    for i, m in enumerate(miou):
        ax2.text(i, 100 * m, f"{100 * m:.1f}", ha="center", va="bottom", fontsize=8)
    fig.suptitle(f"{summary.get('space')} search at {summary.get('input_size')}")
    fig.tight_layout()
    out = folder / "plots" / "summary.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
