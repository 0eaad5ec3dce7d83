"""Network-level correction: whole-network latency from the block predictions, per op family.

A block timed alone pays costs a network does not (session launch, reading its input from a cold
cache, writing a fresh output) and misses some a network has (memory traffic between blocks, the
adds and resizes no block owns). How much depends on the op: on the 2-core `cpu` host the
networks of FFNet ran ~25% *faster* than the sum of their measured blocks while routing networks
ran ~5% faster and RTSeg's close to the sum (experiments/results/latency-cpu). One global
factor cannot fit all three; a factor and a per-block cost per op family can:

    net_ms = a + sum_f b_f * S_f + sum_f c_f * N_f

with S_f the summed predicted ms of the network's blocks of op family f and N_f their count.
It is fitted on measured networks by ridge regression on the *relative* error (every network
weighs the same whatever its size), pulled towards the identity (b = 1, c = 0, a = 0), so an op
that no training network contains keeps its block sum unchanged. Fewer than `min_full` networks
fit a single ratio instead. Everything is linear in S and N, so the gradient search can feed it
expected sums and expected counts (sums of choice probabilities) and stay differentiable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


class NetworkCorrection:
    """Per-op-family linear correction of summed block latencies (see the module docstring).

    Args:
        ops: op families (`BlockSpec.op_key`) with their own coefficients; others use the prior.
        ratio: global factor used when too few networks were measured for the full fit.
    """

    min_full = 8
    ridge = 1e-2  # on relative errors: ~1% of a network's error buys a unit of coefficient

    def __init__(self, ops: Sequence[str] = (), *, a: float = 0.0,
                 b: Sequence[float] | None = None, c: Sequence[float] | None = None,
                 ratio: float = 1.0, n_fit: int = 0) -> None:
        self.ops = tuple(ops)
        self.a = float(a)
        self.b = np.asarray(b if b is not None else np.ones(len(self.ops)), float)
        self.c = np.asarray(c if c is not None else np.zeros(len(self.ops)), float)
        self.ratio = float(ratio)
        self.n_fit = int(n_fit)
        self._index = {op: i for i, op in enumerate(self.ops)}

    # ------------------------------------------------------------------ features
    def op_index(self, op_keys: Sequence[str]) -> np.ndarray:
        """Column of each op key; -1 for an op without coefficients (identity for it)."""
        return np.array([self._index.get(k, -1) for k in op_keys], dtype=np.int64)

    def matrices(self, ms: np.ndarray, op_keys: Sequence[str], seg: np.ndarray,
                 n_networks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(S, N, rest): per-network per-op sums and counts, and the sum of unknown ops' ms.

        Args:
            ms: predicted ms of every block of every network, flattened.
            op_keys: op key of each flattened block. seg: network index of each block.
        """
        return self.matrices_by_column(ms, self.op_index(op_keys), seg, n_networks)

    def matrices_by_column(self, ms: np.ndarray, col: np.ndarray, seg: np.ndarray,
                           n_networks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`matrices` with the op columns (`op_index`) already looked up (batched hot path)."""
        k = len(self.ops)
        known = col >= 0
        flat = seg[known] * k + col[known]
        s = np.bincount(flat, weights=ms[known], minlength=n_networks * k).reshape(n_networks, k)
        n = np.bincount(flat, minlength=n_networks * k).reshape(n_networks, k).astype(float)
        rest = np.bincount(seg[~known], weights=ms[~known], minlength=n_networks)
        return s, n, rest

    # ------------------------------------------------------------------ fit
    def fit(self, s: np.ndarray, n: np.ndarray, rest: np.ndarray, measured_ms: np.ndarray) -> None:
        """Fit on training networks (S, N, rest from `matrices`) and their measured ms."""
        y = np.asarray(measured_ms, float)
        total = s.sum(1) + rest
        self.n_fit = len(y)
        k = len(self.ops)
        self.a, self.b, self.c = 0.0, np.ones(k), np.zeros(k)
        self.ratio = 1.0
        if len(y) == 0:
            return
        if len(y) < self.min_full:
            self.ratio = float(np.exp(np.mean(np.log(y / np.maximum(total, 1e-9)))))
            self.b = np.full(k, self.ratio)
            return
        x = np.concatenate([np.ones((len(y), 1)), s, n], axis=1)
        prior = np.concatenate([[0.0], np.ones(k), np.zeros(k)])
        w = 1.0 / y  # relative error: (x theta - y) / y
        xw, yw = x * w[:, None], (y - rest) * w
        lam = self.ridge * np.eye(x.shape[1])
        lam[0, 0] = 0.0  # the intercept is free
        theta = np.linalg.solve(xw.T @ xw + lam, xw.T @ yw + lam @ prior)
        self.a, self.b, self.c = float(theta[0]), theta[1:1 + k], theta[1 + k:]

    # ------------------------------------------------------------------ apply
    def apply(self, s: np.ndarray, n: np.ndarray, rest: np.ndarray) -> np.ndarray:
        """Corrected network ms; never below a tenth of the raw block sum (a sane floor for
        networks far outside the fitted range)."""
        raw = s.sum(1) + rest
        out = self.a + s @ self.b + n @ self.c + rest * self.ratio
        return np.maximum(out, 0.1 * raw)

    def apply_t(self, ms: torch.Tensor, prob: torch.Tensor, op_keys: Sequence[str]) -> torch.Tensor:
        """Differentiable expected network ms of soft blocks: `ms` per block, `prob` the
        probability each block runs (1 for fixed blocks), `op_keys` their op families."""
        col = torch.as_tensor(self.op_index(op_keys))
        known = col >= 0
        weighted = ms * prob
        b = torch.as_tensor(self.b, dtype=ms.dtype)
        c = torch.as_tensor(self.c, dtype=ms.dtype)
        out = torch.as_tensor(self.a, dtype=ms.dtype) + self.ratio * weighted[~known].sum()
        if bool(known.any()):
            idx = col[known]
            out = out + (weighted[known] * b[idx]).sum() + (prob[known] * c[idx]).sum()
        return torch.maximum(out, 0.1 * weighted.sum())

    # ------------------------------------------------------------------ persistence
    def coef(self) -> dict[str, Any]:
        """Readable coefficients (reports)."""
        return {"intercept_ms": self.a, "ratio_unknown_ops": self.ratio, "n_fit": self.n_fit,
                "per_op": {op: {"scale": float(b), "per_block_ms": float(c)}
                           for op, b, c in zip(self.ops, self.b, self.c, strict=True)}}

    def to_state(self) -> dict[str, Any]:
        return {"kind": "per_op", "ops": list(self.ops), "a": self.a, "b": self.b.tolist(),
                "c": self.c.tolist(), "ratio": self.ratio, "n_fit": self.n_fit}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> NetworkCorrection:
        return cls(state["ops"], a=state["a"], b=state["b"], c=state["c"], ratio=state["ratio"],
                   n_fit=state["n_fit"])
