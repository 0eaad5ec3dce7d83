"""Machine-state calibration of store rows: latency as if the host ran at its reference speed.

The profiler times a fixed calibration block in every round of a batch (`extra.calib_ms`) and
redoes a round whose calibration block drifts from the *batch's own* median. A batch measured
entirely while the host was slow therefore passes as quiet: on the 2-core `cpu` host about a fifth
of the block and network rows were timed with the calibration block 1.3-1.5x slower than in the
other batches, and those rows are ~30% slow as a whole (the routing networks' sum-of-blocks ratio
was bimodal, 0.77 vs 1.06; scaled by the calibration it is one mode with a 4% spread).

Scaling each row by `reference / its calibration median` removes that between-batch drift. The
reference is the median calibration over the rows a predictor is fitted on, saved with it, so
held-out rows are scaled to the same machine state when a report asks for it. Rows without a
calibration block (other backends, synthetic rows) keep their median.

Scaling is a first-order fix: a slow host is not uniformly slow (memory-bound and compute-bound
ops suffer differently). So a row whose batch ran more than `SLOW_FACTOR` x the host's reference
is *slow*: `nas profile --remeasure-slow` measures those keys again, and the split keeps a
key's fastest row (latency/predictors/split.py says why the fastest, not the quietest-calibrated).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


def calib_of(extra: Any) -> float:
    if extra is None or (isinstance(extra, float) and np.isnan(extra)):
        return float("nan")
    try:
        d = json.loads(extra) if isinstance(extra, (str, bytes)) else extra
    except ValueError:
        return float("nan")
    values = [float(v) for v in (d or {}).get("calib_ms", []) if float(v) > 0] \
        if isinstance(d, dict) else []
    return float(np.median(values)) if values else float("nan")


def calib_medians(rows: pd.DataFrame) -> np.ndarray:
    """Median calibration-block ms of each row's batch; NaN where the row has none."""
    if "extra" not in rows or len(rows) == 0:
        return np.full(len(rows), np.nan)
    return np.array([calib_of(e) for e in rows["extra"]], dtype=np.float64)


def _finite_calibs(frames: Sequence[pd.DataFrame | None]) -> np.ndarray:
    """The calibration medians of all rows of `frames` that have one."""
    values = np.concatenate([calib_medians(f) for f in frames if f is not None] or [np.zeros(0)])
    return values[np.isfinite(values)]


def reference_calib(*frames: pd.DataFrame | None) -> float | None:
    """Median calibration over all rows of `frames` that have one; None if none has."""
    values = _finite_calibs(frames)
    return float(np.median(values)) if len(values) else None


def quiet_calib(*frames: pd.DataFrame | None, quantile: float = 0.1) -> float | None:
    """The host's *quiet* speed: a low quantile of the rows' calibration medians (None if no
    row has one). The median is not it: on 2026-12-06 the `cpu` host ran ~7-11% slower for 35 of
    45 minutes of a campaign, so the median calibration was the slow state's."""
    values = _finite_calibs(frames)
    return float(np.quantile(values, quantile)) if len(values) else None


def nominal_ms(rows: pd.DataFrame, reference: float | None) -> np.ndarray:
    """`median_ms` scaled to the reference machine state (unchanged without a calibration)."""
    ms = rows["median_ms"].to_numpy(dtype=np.float64)
    if reference is None or len(rows) == 0:
        return ms
    calib = calib_medians(rows)
    scale = np.where(np.isfinite(calib), reference / np.where(np.isfinite(calib), calib, 1.0), 1.0)
    return ms * scale


def with_nominal_ms(rows: pd.DataFrame, reference: float | None) -> pd.DataFrame:
    """A copy of `rows` whose `median_ms` is `nominal_ms`."""
    return rows.assign(median_ms=nominal_ms(rows, reference))


# Between the quiet mode of the 2-core `cpu` host (calibration within +-5% of its quiet speed) and
# its slow mode (1.3-1.5x); see the module docstring. `nas profile --remeasure-slow --slow-factor`
# takes a stricter one for a host that drifted less far (1.07-1.11x on 2026-12-06).
SLOW_FACTOR = 1.15


def quiet_mask(rows: pd.DataFrame, reference: float | None,
               factor: float = SLOW_FACTOR) -> np.ndarray:
    """True for rows timed at most `factor` x the reference calibration, or without one."""
    calib = calib_medians(rows)
    if reference is None:
        return np.ones(len(rows), dtype=bool)
    return ~(np.isfinite(calib) & (calib > factor * reference))
