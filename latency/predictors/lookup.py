"""Lookup-table baseline (FBNet / Once-for-All style): measured blocks, nearest neighbour else.

FBNet and OFA predict a network as the sum of per-block latencies read from a table of measured
blocks. A block missing from the table takes the latency of its nearest measured neighbour of the
same op (standardised log-feature distance); an op never measured falls back to all ops. An exact
key hit is the distance-0 neighbour.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from latency.blocks import BlockSpec
from latency.predictors.base import Predictor, register_predictor


@register_predictor
class LookupPredictor(Predictor):
    """Table of measured blocks; nearest neighbour within the op for a miss."""

    kind = "lookup"

    def _numeric(self, x: np.ndarray) -> np.ndarray:
        """The log-scaled fields only: the nearest neighbour is by shape, as in FBNet/OFA
        tables (the derived alignment columns would make a +1 channel look far away)."""
        assert self.schema is not None
        return x[:, len(self.schema.ops):len(self.schema.ops) + len(self.schema.numeric)]

    def _fit_blocks(self, specs: list[BlockSpec], ms: np.ndarray) -> None:
        assert self.schema is not None
        self.op_idx = self.schema.op_index(specs)
        self.x = self._numeric(self.schema.encode(specs))
        self.scale = np.maximum(self.x.std(0), 1e-6).astype(np.float32)
        self.log_ms = np.log(ms)

    def predict(self, blocks: list[BlockSpec]) -> np.ndarray:
        assert self.schema is not None
        if not blocks:
            return np.zeros(0)
        q_op = self.schema.op_index(blocks, strict=False)
        q = self._numeric(self.schema.encode(blocks, strict=False)) / self.scale
        table = self.x / self.scale
        out = np.empty(len(blocks))
        for op in np.unique(q_op):
            rows = np.nonzero(q_op == op)[0]
            cand = np.nonzero(self.op_idx == op)[0] if op >= 0 else np.arange(len(table))
            for start in range(0, len(rows), 2048):  # bound the distance matrix's memory
                r = rows[start:start + 2048]
                d = ((q[r, None, :] - table[None, cand, :]) ** 2).sum(-1)
                out[r] = self.log_ms[cand[np.argmin(d, axis=1)]]
        return np.exp(out)

    def _state(self) -> dict[str, Any]:
        return {"op_idx": torch.from_numpy(self.op_idx), "x": torch.from_numpy(self.x),
                "scale": torch.from_numpy(self.scale), "log_ms": torch.from_numpy(self.log_ms)}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.op_idx = state["op_idx"].numpy()
        self.x, self.scale = state["x"].numpy(), state["scale"].numpy()
        self.log_ms = state["log_ms"].numpy()
