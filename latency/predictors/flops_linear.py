"""FLOPs-linear baseline: latency = a + b * MACs, one line per op.

The usual proxy of latency-aware NAS papers that do not measure: cost proportional to MACs plus a
fixed per-op overhead. The fit minimises *relative* error (rows weighted by 1 / measured) with
a, b >= 0, the same criterion the MAPE columns of the report use. An op never measured uses the
line fitted on all ops.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import nnls

from latency.blocks import BlockSpec
from latency.features import block_macs
from latency.predictors.base import Predictor, register_predictor


def _fit_line(macs: np.ndarray, ms: np.ndarray) -> tuple[float, float]:
    """Non-negative (a, b) minimising sum(((a + b * macs) / ms - 1)^2)."""
    design = np.stack([1.0 / ms, macs / ms], axis=1)
    scale = np.maximum(np.abs(design).max(0), 1e-30)  # conditioning: MACs are ~1e9
    coef, _ = nnls(design / scale, np.ones(len(ms)))
    a, b = coef / scale
    return float(a), float(b)


@register_predictor
class FlopsLinearPredictor(Predictor):
    """Per-op `a + b * MACs` (MACs as nas.models.counting defines them)."""

    kind = "flops_linear"

    def _fit_blocks(self, specs: list[BlockSpec], ms: np.ndarray) -> None:
        assert self.schema is not None
        macs = np.array([block_macs(s) for s in specs], dtype=np.float64)
        op_idx = self.schema.op_index(specs)
        self.lines = [list(_fit_line(macs[op_idx == i], ms[op_idx == i]))
                      for i in range(len(self.schema.ops))]
        self.global_line = list(_fit_line(macs, ms))

    def predict(self, blocks: list[BlockSpec]) -> np.ndarray:
        assert self.schema is not None
        macs = np.array([block_macs(s) for s in blocks], dtype=np.float64)
        op_idx = self.schema.op_index(blocks, strict=False)
        coef = np.array(self.lines + [self.global_line])[op_idx]  # -1 -> global line
        return np.maximum(coef[:, 0] + coef[:, 1] * macs, 1e-6)

    def _state(self) -> dict[str, Any]:
        return {"lines": self.lines, "global_line": self.global_line}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.lines = [list(map(float, line)) for line in state["lines"]]
        self.global_line = list(map(float, state["global_line"]))
