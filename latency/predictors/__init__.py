"""Latency predictors behind one `Predictor` interface: the RTSeg MLP and three baselines.

- `mlp` (latency/predictors/mlp.py): RTSeg's 5-layer ReLU MLP; differentiable (`expected`).
- `lookup`: FBNet/OFA lookup table with nearest-neighbour fallback.
- `flops_linear`: per-op `a + b * MACs`.
- `forest`: per-op random forest (nn-Meter).

`load_predictor(path, device)` reads any of them back (weights_only; device and feature schema
checked); `load_for_device(device)` reads the one `nas predictor train` saved for a device.
"""

from __future__ import annotations

from pathlib import Path

from latency.predictors.base import (
    NetworkCorrection,
    Predictor,
    create_predictor,
    load_predictor,
    predictor_kinds,
    register_predictor,
)
from latency.predictors.flops_linear import FlopsLinearPredictor
from latency.predictors.forest import ForestPredictor
from latency.predictors.lookup import LookupPredictor
from latency.predictors.mlp import MLPPredictor
from latency.predictors.split import Split, split_by_arch

BASELINES = ("lookup", "flops_linear", "forest")


def load_for_device(device: str, path: str | Path | None = None) -> Predictor:
    """The predictor trained for `device` (default `nas.paths.predictor_path(device)`)."""
    from nas.paths import predictor_path

    return load_predictor(path or predictor_path(device), device)


__all__ = [
    "BASELINES", "FlopsLinearPredictor", "ForestPredictor", "LookupPredictor", "MLPPredictor",
    "NetworkCorrection", "Predictor", "Split", "create_predictor", "load_for_device",
    "load_predictor", "predictor_kinds", "register_predictor", "split_by_arch",
]
