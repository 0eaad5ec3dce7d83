"""How well a latency predictor (and each baseline) predicts held-out architectures.

The numbers that matter to the search are network-level: the constraint is checked on whole
networks, and the search ranks them. So besides the block MAPE we report the network MAPE, the
fraction of held-out networks within +-10% / +-5% (`network_acc10`, `network_acc5`) and Kendall's
tau between predicted and measured network latency. `noise_floor` is how far repeated
measurements of the same item (its repeated rows, else the profiler's round medians) sit from
their median: a predictor cannot be judged below it. Units: MAPE and noise floor in percent, acc
as fractions.

The headline figures compare with the rows' `median_ms`, which `nas predictor` reads as each
row's fastest round median (latency/statistic.py). When the predictor was fitted on
calibration-scaled rows (latency/predictors/calibration.py), `calibrated` repeats them against
the held-out rows scaled to the same reference machine state: a held-out batch timed while the
host was slow is a wrong measurement of the device, not a miss of the predictor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from latency.features import networks_from_rows, specs_from_rows
from latency.predictors import BASELINES, Predictor, Split, create_predictor
from latency.predictors.calibration import with_nominal_ms
from nas.io import atomic_write, atomic_write_json, atomic_write_text

NOISE_NOTE_NONE = ("no repeated measurements in the store (no repeated keys and no "
                   "round_medians_ms in 'extra'); noise floor unknown")


def mape(pred: np.ndarray, true: np.ndarray) -> float | None:
    """Mean absolute percentage error, percent."""
    if len(true) == 0:
        return None
    return float(np.mean(np.abs(np.asarray(pred) / np.asarray(true) - 1.0)) * 100.0)


def acc_within(pred: np.ndarray, true: np.ndarray, tol: float) -> float | None:
    """Fraction of items whose relative error is within +-tol (0.10 for acc10)."""
    if len(true) == 0:
        return None
    rel = np.abs(np.asarray(pred) / np.asarray(true) - 1.0)
    return float(np.mean(rel <= tol + 1e-12))


def kendall_tau(pred: np.ndarray, true: np.ndarray) -> float | None:
    """Kendall's tau-b between predicted and measured latencies (rank agreement)."""
    if len(true) < 2:
        return None
    tau = kendalltau(pred, true).statistic
    return None if np.isnan(tau) else float(tau)


def noise_floor(rows: pd.DataFrame, key_col: str = "key") -> float | None:
    """Mean absolute % deviation of repeated measurements from their median, or None.

    Repeats are the rows of one item (a key and its `key#n` repeats), each a separate pass at
    another time: their spread is what a predictor of `median_ms` (the fast figure, see
    latency/statistic.py) can at best match. Without repeated rows, the spread of the profiler's
    interleaved rounds (`extra.round_medians_ms`) around their median stands in: a lower bound,
    as rounds lie seconds apart and passes minutes or days.
    """
    from latency.statistic import round_medians
    from latency.store import base_key

    devs: list[np.ndarray] = []
    if len(rows) and key_col in rows and rows[key_col].map(lambda k: isinstance(k, str)).all():
        for _, g in rows.groupby(rows[key_col].map(base_key)):
            if len(g) > 1:
                m = g["median_ms"].to_numpy(float)
                devs.append(np.abs(m / np.median(m) - 1.0))
    if not devs and "extra" in rows:
        for extra in rows["extra"]:
            r = np.array(round_medians(extra))
            if len(r) > 1:
                devs.append(np.abs(r / np.median(r) - 1.0))
    if not devs:
        return None
    return float(np.mean(np.concatenate(devs)) * 100.0)


@dataclass
class Evaluation:
    """Metrics of every predictor on one split, plus the arrays the scatter plot needs."""

    report: dict[str, Any]
    points: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)


def predictor_metrics(
    pred: Predictor, test_blocks: pd.DataFrame, test_networks: pd.DataFrame
) -> tuple[dict[str, Any], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The metrics of one predictor on held-out rows, and its (predicted, measured) arrays."""
    yb = test_blocks["median_ms"].to_numpy(float)
    pb = pred.predict(specs_from_rows(test_blocks)) if len(yb) else np.zeros(0)
    yn = test_networks["median_ms"].to_numpy(float)
    pn = pred.predict_network(networks_from_rows(test_networks)) if len(yn) else np.zeros(0)
    tau_on = "networks" if len(yn) >= 2 else "blocks"
    metrics = {
        "block_mape": mape(pb, yb),
        "block_acc10": acc_within(pb, yb, 0.10),
        "network_mape": mape(pn, yn),
        "network_acc10": acc_within(pn, yn, 0.10),
        "network_acc5": acc_within(pn, yn, 0.05),
        "network_bias": float(np.mean(pn / yn - 1.0) * 100.0) if len(yn) else None,
        "kendall_tau": kendall_tau(pn, yn) if tau_on == "networks" else kendall_tau(pb, yb),
        "kendall_tau_on": tau_on,
        "n_blocks": int(len(yb)),
        "n_networks": int(len(yn)),
        "correction": pred.correction.coef(),
    }
    return metrics, {"blocks": (pb, yb), "networks": (pn, yn)}


def filter_space(split: Split, space: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Test rows of one space: its networks and the blocks occurring in them."""
    if space is None:
        return split.test_blocks, split.test_networks
    nets = split.test_networks[split.test_networks["space"] == space]
    if split.mode == "block":
        return split.test_blocks[split.test_blocks["space"] == space], nets
    from latency.predictors.split import block_key_str

    keys = {k for net in networks_from_rows(nets) for k in block_key_str(net)}
    return split.test_blocks[split.test_blocks["group"].isin(keys)], nets


def known_ops_only(
    pred: Predictor, blocks: pd.DataFrame, networks: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Held-out rows whose ops the predictor was trained on, and how many were skipped.

    With a strict split an op can occur only in held-out networks (a stem shared by every
    network, say); no predictor can be judged on it, so those rows are left out and counted.
    """
    assert pred.schema is not None
    ops = set(pred.schema.ops)
    keep_b = [s.op_key in ops for s in specs_from_rows(blocks)] if len(blocks) else []
    keep_n = ([all(b.op_key in ops for b in n) for n in networks_from_rows(networks)]
              if len(networks) else [])
    skipped = {"blocks": len(keep_b) - sum(keep_b), "networks": len(keep_n) - sum(keep_n)}
    return blocks[np.array(keep_b, bool)], networks[np.array(keep_n, bool)], skipped


def evaluate(
    mlp: Predictor,
    split: Split,
    *,
    baselines: dict[str, Predictor] | None = None,
    space: str | None = None,
    raw_blocks: pd.DataFrame | None = None,
    raw_networks: pd.DataFrame | None = None,
) -> Evaluation:
    """Report the MLP and the baselines (fitted on `split`'s training side when not given).

    Args:
        raw_blocks, raw_networks: the uncollapsed store rows, for the noise floor.
        space: restrict the held-out rows to one space.
    """
    if baselines is None:
        baselines = {k: create_predictor(k, device=mlp.device, seed=mlp.seed)
                     .fit(split.train_blocks, split.train_networks) for k in BASELINES}
    test_blocks, test_networks = filter_space(split, space)
    test_blocks, test_networks, skipped = known_ops_only(mlp, test_blocks, test_networks)
    report, points = predictor_metrics(mlp, test_blocks, test_networks)
    report = {"device": mlp.device, "predictor": mlp.kind, "space": space, **report,
              "skipped_unknown_op": skipped}
    nb = noise_floor(raw_blocks if raw_blocks is not None else test_blocks)
    nn_ = noise_floor(raw_networks if raw_networks is not None else test_networks)
    report["noise_floor"] = nn_ if nn_ is not None else nb
    report["noise_floor_block"], report["noise_floor_network"] = nb, nn_
    report["noise_note"] = (
        NOISE_NOTE_NONE if report["noise_floor"] is None else
        "mean |repeat / median - 1| in percent over the repeated rows of one item (else over "
        "the rounds of each row); network rows when present, else block rows"
    )
    report["split"] = {"mode": split.mode, "n_train_blocks": len(split.train_blocks),
                       "n_train_networks": len(split.train_networks)}
    report["baselines"] = {}
    all_points = {mlp.kind: points}
    for name, b in baselines.items():
        report["baselines"][name], all_points[name] = predictor_metrics(
            b, test_blocks, test_networks)
    if mlp.calib_ref is not None:
        report["calibrated"] = calibrated_metrics(mlp, baselines, test_blocks, test_networks)
    return Evaluation(report, all_points)


CALIBRATED_KEYS = ("block_mape", "network_mape", "network_acc10", "network_acc5", "network_bias",
                   "kendall_tau")


def calibrated_metrics(mlp: Predictor, baselines: dict[str, Predictor],
                       test_blocks: pd.DataFrame, test_networks: pd.DataFrame) -> dict[str, Any]:
    """The headline metrics against held-out rows scaled to the MLP's reference calibration."""
    blocks = with_nominal_ms(test_blocks, mlp.calib_ref)
    networks = with_nominal_ms(test_networks, mlp.calib_ref)

    def subset(pred: Predictor) -> dict[str, Any]:
        metrics, _ = predictor_metrics(pred, blocks, networks)
        return {k: metrics[k] for k in CALIBRATED_KEYS}

    return {"reference_calib_ms": mlp.calib_ref, **subset(mlp),
            "baselines": {name: subset(b) for name, b in baselines.items()}}


# ------------------------------------------------------------------------------ writing
def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def markdown(report: dict[str, Any]) -> str:
    cols = ["block_mape", "network_mape", "network_acc10", "network_acc5", "kendall_tau",
            "n_blocks", "n_networks"]
    lines = [
        f"# Latency predictor report: device `{report['device']}`"
        + (f", space `{report['space']}`" if report.get("space") else ""), "",
        "Held-out architectures only (split by arch; their blocks never trained on). "
        "MAPE in %, acc = fraction of networks within +-10% / +-5%.", "",
        "| predictor | " + " | ".join(cols) + " |",
        "|" + "---|" * (len(cols) + 1),
    ]
    rows = {report["predictor"]: report, **report.get("baselines", {})}
    for name, m in rows.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(m.get(c)) for c in cols) + " |")
    cal = report.get("calibrated")
    if cal:
        lines += ["", "Against the held-out rows scaled to the reference machine state "
                  f"(calibration block {_fmt(cal['reference_calib_ms'])} ms; "
                  "latency/predictors/calibration.py):", "",
                  "| predictor | " + " | ".join(CALIBRATED_KEYS) + " |",
                  "|" + "---|" * (len(CALIBRATED_KEYS) + 1)]
        for name, m in {report["predictor"]: cal, **cal.get("baselines", {})}.items():
            lines.append(f"| {name} | " + " | ".join(_fmt(m.get(c)) for c in CALIBRATED_KEYS)
                         + " |")
    lines += ["", f"Noise floor: {_fmt(report.get('noise_floor'))} % ({report.get('noise_note')})",
              f"Split: {report.get('split')}", "", "![predicted vs measured](scatter.png)", ""]
    return "\n".join(lines)


def scatter_png(points: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], path: Path) -> Path:
    """Predicted vs measured on log axes: blocks (left) and networks (right), all predictors."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    for ax, level in zip(axes, ("blocks", "networks"), strict=True):
        lo, hi = np.inf, 0.0
        for name, pts in points.items():
            pred, true = pts[level]
            if len(true) == 0:
                continue
            ax.scatter(true, pred, s=8 if level == "blocks" else 16, alpha=0.6, label=name)
            lo = min(lo, float(np.min(true)), float(np.min(pred)))
            hi = max(hi, float(np.max(true)), float(np.max(pred)))
        if hi > 0:
            ref = np.array([lo * 0.8, hi * 1.25])
            ax.plot(ref, ref, "k-", lw=0.8)
            ax.plot(ref, ref * 1.1, "k:", lw=0.6)
            ax.plot(ref, ref / 1.1, "k:", lw=0.6)
            ax.set_xscale("log")
            ax.set_yscale("log")
            for axis in (ax.xaxis, ax.yaxis):  # minor labels overlap on a narrow decade
                axis.set_minor_formatter(NullFormatter())
            ax.legend(fontsize=7)
        ax.set_xlabel("measured ms")
        ax.set_ylabel("predicted ms")
        ax.set_title(f"held-out {level} (dotted: +-10%)")
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return path


def write_report(evaluation: Evaluation, out_dir: str | Path) -> dict[str, Path]:
    """report.json, report.md and scatter.png in `out_dir`."""
    out = Path(out_dir)
    return {
        "json": atomic_write_json(out / "report.json", evaluation.report),
        "markdown": atomic_write_text(out / "report.md", markdown(evaluation.report)),
        "scatter": scatter_png(evaluation.points, out / "scatter.png"),
    }
