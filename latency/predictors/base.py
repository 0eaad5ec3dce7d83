"""The `Predictor` interface shared by the MLP and the baselines, and its file format.

Every predictor maps blocks to milliseconds on one device. Networks are predicted as the sum of
their blocks followed by a `NetworkCorrection` learned from whole-network measurements: on real
runtimes the sum of separately measured blocks misses the whole network by a systematic amount
(launch overhead, cache effects, fused boundaries; +6..+10% on this host in an earlier study), so
summing alone would bias every constraint the search checks.

File format: one `torch.save` of plain data — tensors, lists, dicts, str/int/float — read with
`torch.load(weights_only=True)`, so a file carrying any other pickle payload is refused rather
than executed.
"""

from __future__ import annotations

import json
import math
import pickle
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from latency.blocks import FEATURE_SCHEMA_VERSION, BlockSpec, SoftBlock
from latency.features import FeatureSchema, networks_from_rows, specs_from_rows
from nas.errors import UserError, unknown_name
from nas.io import atomic_torch_save

FORMAT = "nas-latency-predictor"
FORMAT_VERSION = 1


class NetworkCorrection:
    """log(net_ms) = a + b * log(sum of block ms) + c * n_blocks, fitted on measured networks.

    With fewer than `min_full` networks only the intercept is fitted (a constant ratio); with
    none it is the identity. The fit is a ridge regression pulled towards the identity (0, 1, 0)
    so that a space whose networks all have the same depth (n_blocks constant) stays well posed.
    """

    min_full = 8

    def __init__(self, coef: tuple[float, float, float] = (0.0, 1.0, 0.0), n_fit: int = 0):
        self.coef = tuple(float(c) for c in coef)
        self.n_fit = n_fit

    def fit(self, block_sum_ms: np.ndarray, n_blocks: np.ndarray, measured_ms: np.ndarray) -> None:
        s = np.log(np.maximum(np.asarray(block_sum_ms, float), 1e-9))
        y = np.log(np.asarray(measured_ms, float))
        n = np.asarray(n_blocks, float)
        self.n_fit = len(y)
        if len(y) == 0:
            self.coef = (0.0, 1.0, 0.0)
        elif len(y) < self.min_full:
            self.coef = (float(np.mean(y - s)), 1.0, 0.0)
        else:
            x = np.stack([np.ones_like(s), s, n], axis=1)
            prior = np.array([0.0, 1.0, 0.0])
            lam = 1e-3 * len(y)
            theta = np.linalg.solve(x.T @ x + lam * np.eye(3), x.T @ y + lam * prior)
            self.coef = tuple(float(t) for t in theta)

    def apply(self, block_sum_ms: np.ndarray, n_blocks: np.ndarray) -> np.ndarray:
        a, b, c = self.coef
        s = np.log(np.maximum(np.asarray(block_sum_ms, float), 1e-9))
        return np.exp(a + b * s + c * np.asarray(n_blocks, float))

    def apply_t(self, block_sum_ms: torch.Tensor, n_blocks: torch.Tensor) -> torch.Tensor:
        """Differentiable version for `expected` (n_blocks may be a sum of probabilities)."""
        a, b, c = self.coef
        return torch.exp(a + b * torch.log(block_sum_ms.clamp_min(1e-9)) + c * n_blocks)

    def to_state(self) -> dict[str, Any]:
        return {"coef": list(self.coef), "n_fit": self.n_fit}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> NetworkCorrection:
        return cls(tuple(state["coef"]), int(state["n_fit"]))  # type: ignore[arg-type]


def _plain(obj: Any) -> Any:
    """JSON round trip: numpy scalars and tuples become plain Python for weights_only files."""
    return json.loads(json.dumps(obj, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


class Predictor(ABC):
    """Block -> ms on one device; networks via sum of blocks + `NetworkCorrection`.

    Args:
        device: the device the measurements came from; saved and checked on load.
        seed: seeds any randomness of the fit.
    """

    kind: ClassVar[str]

    def __init__(self, *, device: str = "", seed: int = 0) -> None:
        self.device = device
        self.seed = seed
        self.schema: FeatureSchema | None = None
        self.correction = NetworkCorrection()
        self.report: dict[str, Any] = {}

    # ----------------------------------------------------------------------- fitting
    def fit(self, blocks_df: pd.DataFrame, networks_df: pd.DataFrame | None = None) -> Predictor:
        """Fit on store rows: block rows (spec, median_ms), then network rows (blocks, median_ms)
        for the network-level correction. Pass only the *training* split."""
        specs = specs_from_rows(blocks_df)
        ms = blocks_df["median_ms"].to_numpy(dtype=np.float64)
        if len(specs) == 0:
            raise UserError(f"no block measurements to fit a predictor for device '{self.device}'")
        if not np.all(np.isfinite(ms) & (ms > 0)):
            raise UserError("block rows: 'median_ms' must be finite and > 0")
        self.schema = FeatureSchema.fit(specs)
        self._fit_blocks(specs, ms)
        self.fit_correction(networks_df)
        return self

    def fit_correction(self, networks_df: pd.DataFrame | None) -> None:
        """Fit the network correction on networks whose ops the predictor knows."""
        if networks_df is None or len(networks_df) == 0:
            self.correction = NetworkCorrection()
            return
        assert self.schema is not None
        known = set(self.schema.ops)
        nets = networks_from_rows(networks_df)
        keep = [i for i, n in enumerate(nets) if n and all(b.op_key in known for b in n)]
        nets = [nets[i] for i in keep]
        measured = networks_df["median_ms"].to_numpy(dtype=np.float64)[keep]
        sums = self.block_sums(nets)
        self.correction = NetworkCorrection()
        self.correction.fit(sums, np.array([len(n) for n in nets]), measured)

    @abstractmethod
    def _fit_blocks(self, specs: list[BlockSpec], ms: np.ndarray) -> None:
        """Fit the block model on specs and their measured median latencies (ms)."""

    # ----------------------------------------------------------------------- prediction
    @abstractmethod
    def predict(self, blocks: list[BlockSpec]) -> np.ndarray:
        """Latency in ms of each block, batched."""

    def block_sums(self, networks: list[list[BlockSpec]]) -> np.ndarray:
        """Uncorrected sum of block predictions per network (one batched `predict`)."""
        flat = [b for net in networks for b in net]
        seg = np.repeat(np.arange(len(networks)), [len(n) for n in networks])
        preds = self.predict(flat) if flat else np.zeros(0)
        return np.bincount(seg, weights=preds, minlength=len(networks))

    def predict_network(self, networks: list[list[BlockSpec]]) -> np.ndarray:
        """Whole-network latency in ms: corrected sum of block predictions."""
        sums = self.block_sums(networks)
        out = self.correction.apply(sums, np.array([len(n) for n in networks]))
        return np.where(sums > 0, out, 0.0)

    def expected(self, terms: list[SoftBlock]) -> torch.Tensor:
        """Expected network latency (ms) of soft blocks; differentiable predictors only."""
        raise UserError(
            f"predictor '{self.kind}' is not differentiable; the gradient search needs 'mlp'"
        )

    # ----------------------------------------------------------------------- persistence
    @abstractmethod
    def _state(self) -> dict[str, Any]:
        """The fitted model as tensors and plain data."""

    @abstractmethod
    def _load_state(self, state: dict[str, Any]) -> None:
        """Inverse of `_state`."""

    def save(self, path: str | Path) -> Path:
        if self.schema is None:
            raise RuntimeError("save() before fit()")
        payload = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "device": self.device,
            "seed": self.seed,
            "schema": self.schema.to_state(),
            "correction": self.correction.to_state(),
            "report": _plain(self.report),
            "state": self._state(),
        }
        return atomic_torch_save(path, payload)


_KINDS: dict[str, type[Predictor]] = {}


def register_predictor(cls: type[Predictor]) -> type[Predictor]:
    """Class decorator: make a predictor kind loadable by name."""
    _KINDS[cls.kind] = cls
    return cls


def predictor_kinds() -> dict[str, type[Predictor]]:
    return dict(_KINDS)


def create_predictor(kind: str, **kwargs: Any) -> Predictor:
    if kind not in _KINDS:
        raise unknown_name("predictor", kind, _KINDS)
    return _KINDS[kind](**kwargs)


def load_predictor(path: str | Path, device: str | None = None) -> Predictor:
    """Load a saved predictor; refuse another device, another feature schema or a pickle payload.

    Args:
        path: the `.pt` file (`nas.paths.predictor_path(device)` by convention).
        device: the device the caller wants latencies for; None skips the check.
    """
    path = Path(path)
    if not path.is_file():
        hint = f" train one with `nas predictor train --device {device}`" if device else ""
        raise UserError(f"{path}: predictor file not found;{hint}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"{path}: refused to load: the file holds objects other than tensors and plain data "
            f"({first[:160]})"
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError) as err:
        raise UserError(f"{path}: not a predictor file ({type(err).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"{path}: not a nas latency predictor (missing format '{FORMAT}')")
    if device is not None and payload.get("device") != device:
        raise UserError(
            f"{path}: predictor was trained for device '{payload.get('device')}', not '{device}'"
        )
    version = payload.get("schema", {}).get("version")
    if version != FEATURE_SCHEMA_VERSION:
        raise UserError(
            f"{path}: predictor feature schema version {version}, this nas uses "
            f"{FEATURE_SCHEMA_VERSION}; retrain with `nas predictor train`"
        )
    if payload.get("kind") not in _KINDS:
        raise unknown_name("predictor kind in " + str(path), str(payload.get("kind")), _KINDS)
    pred = _KINDS[payload["kind"]](device=payload["device"], seed=int(payload.get("seed", 0)))
    pred.schema = FeatureSchema.from_state(payload["schema"])
    pred.correction = NetworkCorrection.from_state(payload["correction"])
    pred.report = payload.get("report", {})
    pred._load_state(payload["state"])
    return pred


def log_mean(x: np.ndarray) -> float:
    """Geometric mean (used as a fallback latency)."""
    return float(math.exp(np.mean(np.log(x)))) if len(x) else 1.0
