"""The `Predictor` interface shared by the MLP and the baselines, and its file format.

Every predictor maps blocks to milliseconds on one device. Networks are predicted from their
blocks' predictions by a `NetworkCorrection` (per op family, latency/predictors/correction.py)
learned from whole-network measurements: on real runtimes the sum of separately measured blocks
misses the whole network by a systematic, op-dependent amount (launch overhead, cache effects,
fused boundaries), so summing alone would bias every constraint the search checks.

Targets are calibration-scaled (latency/predictors/calibration.py): a batch the profiler timed
while the host was slow would otherwise teach every predictor a ~30% error. The reference
calibration is saved with the predictor.

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
from latency.predictors.calibration import nominal_ms, reference_calib
from latency.predictors.correction import NetworkCorrection
from nas.errors import UserError, unknown_name
from nas.io import atomic_torch_save

FORMAT = "nas-latency-predictor"
FORMAT_VERSION = 3  # 2: per-op-family network correction; 3: calib_ref_ms, network-aware MLP


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
        # calibration-block ms the targets were scaled to (None: rows had no calibration)
        self.calib_ref: float | None = None

    # ----------------------------------------------------------------------- fitting
    def fit(self, blocks_df: pd.DataFrame, networks_df: pd.DataFrame | None = None) -> Predictor:
        """Fit on store rows: block rows (spec, median_ms), then network rows (blocks, median_ms)
        for the network-level correction. Pass only the *training* split."""
        specs = specs_from_rows(blocks_df)
        if len(specs) == 0:
            raise UserError(f"no block measurements to fit a predictor for device '{self.device}'")
        self.calib_ref = reference_calib(blocks_df, networks_df)
        ms = nominal_ms(blocks_df, self.calib_ref)
        if not np.all(np.isfinite(ms) & (ms > 0)):
            raise UserError("block rows: 'median_ms' must be finite and > 0")
        self.schema = FeatureSchema.fit(specs)
        self._fit_blocks(specs, ms)
        nets, measured = self._known_networks(networks_df)
        self.fit_correction(nets, measured)
        if len(nets):
            self._fit_networks(specs, ms, nets, measured)
        return self

    def _known_networks(self, networks_df: pd.DataFrame | None
                        ) -> tuple[list[list[BlockSpec]], np.ndarray]:
        """Network rows whose ops the predictor knows, with their calibration-scaled ms."""
        assert self.schema is not None
        if networks_df is None or len(networks_df) == 0:
            return [], np.zeros(0)
        known = set(self.schema.ops)
        nets = networks_from_rows(networks_df)
        keep = [i for i, n in enumerate(nets) if n and all(b.op_key in known for b in n)]
        measured = nominal_ms(networks_df, self.calib_ref)[keep]
        return [nets[i] for i in keep], measured

    def fit_correction(self, nets: list[list[BlockSpec]], measured: np.ndarray) -> None:
        """Fit the network correction on training networks and their measured ms."""
        assert self.schema is not None
        self.correction = NetworkCorrection(self.schema.ops)
        if len(nets):
            self.correction.fit(*self._matrices(nets), measured)

    def _fit_networks(self, specs: list[BlockSpec], ms: np.ndarray,
                      nets: list[list[BlockSpec]], measured: np.ndarray) -> None:
        """Optional last stage that refits on blocks and networks together (the MLP does);
        the baselines keep their closed-form correction."""
        return None

    @abstractmethod
    def _fit_blocks(self, specs: list[BlockSpec], ms: np.ndarray) -> None:
        """Fit the block model on specs and their measured median latencies (ms)."""

    # ----------------------------------------------------------------------- prediction
    @abstractmethod
    def predict(self, blocks: list[BlockSpec]) -> np.ndarray:
        """Latency in ms of each block, batched."""

    def _matrices(self, networks: list[list[BlockSpec]]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-network per-op sums of block predictions and counts (one batched `predict`)."""
        flat = [b for net in networks for b in net]
        seg = np.repeat(np.arange(len(networks)), [len(n) for n in networks])
        preds = self.predict(flat) if flat else np.zeros(0)
        return self.correction.matrices(np.asarray(preds, np.float64),
                                        [b.op_key for b in flat], seg, len(networks))

    def predict_network(self, networks: list[list[BlockSpec]]) -> np.ndarray:
        """Whole-network latency in ms: the corrected block predictions."""
        s, n, rest = self._matrices(networks)
        out = self.correction.apply(s, n, rest)
        return np.where(s.sum(1) + rest > 0, out, 0.0)

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
            "calib_ref_ms": self.calib_ref,
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
    if payload.get("format_version") != FORMAT_VERSION:
        raise UserError(
            f"{path}: predictor file format {payload.get('format_version')}, this nas reads "
            f"{FORMAT_VERSION}; retrain with `nas predictor train --device {payload['device']}`"
        )
    pred.correction = NetworkCorrection.from_state(payload["correction"])
    ref = payload.get("calib_ref_ms")
    pred.calib_ref = None if ref is None else float(ref)
    pred.report = payload.get("report", {})
    pred._load_state(payload["state"])
    return pred


def log_mean(x: np.ndarray) -> float:
    """Geometric mean (used as a fallback latency)."""
    return float(math.exp(np.mean(np.log(x)))) if len(x) else 1.0
