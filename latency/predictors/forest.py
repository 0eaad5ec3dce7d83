"""Per-op random-forest baseline (nn-Meter style): one forest per op on log features.

nn-Meter predicts each fused kernel with a random forest trained for that kernel type. We fit a
scikit-learn forest per op on the log-scaled numeric features (log latency target), plus one
forest on all ops (with the op one-hot) for ops without a forest of their own.

The fitted trees are saved as flat tensors (children, feature, threshold, leaf value) and
evaluated by our own vectorised traversal, so the file loads with `weights_only=True` — no
pickled scikit-learn objects — and prediction needs no scikit-learn at all.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.ensemble import RandomForestRegressor

from latency.blocks import BlockSpec
from latency.predictors.base import Predictor, register_predictor


def _flatten(forest: RandomForestRegressor) -> dict[str, torch.Tensor]:
    """All trees of a fitted forest as one node table with per-tree root offsets."""
    left, right, feat, thr, val, roots = [], [], [], [], [], []
    offset = 0
    for est in forest.estimators_:
        t = est.tree_
        roots.append(offset)
        is_leaf = t.children_left < 0
        left.append(np.where(is_leaf, -1, t.children_left + offset))
        right.append(np.where(is_leaf, -1, t.children_right + offset))
        feat.append(np.where(is_leaf, 0, t.feature))
        thr.append(t.threshold)
        val.append(t.value.reshape(-1))
        offset += t.node_count
    return {k: torch.from_numpy(np.concatenate(v)) for k, v in
            (("left", left), ("right", right), ("feature", feat), ("threshold", thr),
             ("value", val))} | {"roots": torch.tensor(roots, dtype=torch.int64)}


def _predict_flat(f: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Mean leaf value over trees; x compared as float32, as scikit-learn does."""
    x = x.astype(np.float32)
    node = np.repeat(f["roots"][:, None], len(x), axis=1)  # [trees, rows]
    cols = np.arange(len(x))[None, :]
    while True:
        nxt_left = f["left"][node]
        leaf = nxt_left < 0
        if leaf.all():
            break
        go_left = x[cols, f["feature"][node]] <= f["threshold"][node]
        node = np.where(leaf, node, np.where(go_left, nxt_left, f["right"][node]))
    return f["value"][node].mean(0)


@register_predictor
class ForestPredictor(Predictor):
    """Random forest per op (nn-Meter); falls back to an all-op forest for an unseen op.

    Args:
        n_estimators: trees per forest.
    """

    kind = "forest"

    def __init__(self, *, device: str = "", seed: int = 0, n_estimators: int = 40) -> None:
        super().__init__(device=device, seed=seed)
        self.n_estimators = n_estimators
        self.forests: dict[str, dict[str, np.ndarray]] = {}

    def _forest(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        rf = RandomForestRegressor(n_estimators=self.n_estimators, random_state=self.seed,
                                   n_jobs=1).fit(x, y)
        return {k: v.numpy() for k, v in _flatten(rf).items()}

    def _fit_blocks(self, specs: list[BlockSpec], ms: np.ndarray) -> None:
        assert self.schema is not None
        x = self.schema.encode(specs)
        n_ops = len(self.schema.ops)
        op_idx = self.schema.op_index(specs)
        y = np.log(ms)
        self.forests = {"*": self._forest(x, y)}
        for i, op in enumerate(self.schema.ops):
            self.forests[op] = self._forest(x[op_idx == i, n_ops:], y[op_idx == i])

    def predict(self, blocks: list[BlockSpec]) -> np.ndarray:
        assert self.schema is not None
        if not blocks:
            return np.zeros(0)
        x = self.schema.encode(blocks, strict=False)
        n_ops = len(self.schema.ops)
        op_idx = self.schema.op_index(blocks, strict=False)
        out = np.empty(len(blocks))
        for i in np.unique(op_idx):
            rows = op_idx == i
            if i < 0:
                out[rows] = _predict_flat(self.forests["*"], x[rows])
            else:
                out[rows] = _predict_flat(self.forests[self.schema.ops[i]], x[rows, n_ops:])
        return np.exp(out)

    def _state(self) -> dict[str, Any]:
        return {"n_estimators": self.n_estimators,
                "forests": {op: {k: torch.from_numpy(np.ascontiguousarray(v))
                                 for k, v in f.items()} for op, f in self.forests.items()}}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.n_estimators = int(state["n_estimators"])
        self.forests = {op: {k: v.numpy() for k, v in f.items()}
                        for op, f in state["forests"].items()}
