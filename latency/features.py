"""Predictor features: op one-hot + log-scaled numeric fields, in a schema fixed at fit time.

Why a schema object: extras (`BlockSpec.extra`) differ per op and per space, and new spaces add
ops. A predictor must encode blocks exactly as it did when it was trained, so the column list
(ops seen, numeric names seen) is decided once in `FeatureSchema.fit` and saved with the weights
as plain lists. Its version is `latency.blocks.FEATURE_SCHEMA_VERSION`: a predictor saved under
another version is refused on load.

Numbers are log-scaled (signed log1p) because latency is close to multiplicative in channels and
spatial size: in log space a product of features is a sum, which a small ReLU MLP fits easily.

Latency is not smooth in channels, though: CPU kernels (ONNX Runtime's NCHWc convolutions,
XNNPACK) work on blocks of 8 channels, so 33 channels cost about what 40 do. Four derived columns
say so: the channel counts rounded up to a multiple of 8 (log-scaled) and whether each count is
a multiple of 8. On the `cpu` host they took FFNet's held-out networks within +-10% from 55% to
85% (experiments/results/latency-cpu, schema 1 vs 2).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from latency.blocks import FEATURE_SCHEMA_VERSION, NUMERIC_FIELDS, BlockSpec, SoftBlock
from nas.errors import UserError


def slog1p(x: np.ndarray) -> np.ndarray:
    """sign(x) * log1p(|x|): log1p for counts, still finite for a negative extra."""
    return np.sign(x) * np.log1p(np.abs(x))


def _slog1p_t(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(torch.abs(x))


@dataclass(frozen=True)
class FeatureSchema:
    """The predictor's input columns: `ops` one-hot, then `numeric` log-scaled values.

    Args:
        ops: op keys (`BlockSpec.op_key`) seen at fit time, sorted; one column each.
        numeric: NUMERIC_FIELDS then the extras seen at fit time (sorted); a missing extra
            encodes as 0, an extra the schema does not know is ignored.
        version: FEATURE_SCHEMA_VERSION at fit time.
    """

    ops: tuple[str, ...]
    numeric: tuple[str, ...]
    version: int = FEATURE_SCHEMA_VERSION

    @classmethod
    def fit(cls, blocks: Iterable[BlockSpec]) -> FeatureSchema:
        ops: set[str] = set()
        extras: set[str] = set()
        for b in blocks:
            ops.add(b.op_key)
            extras.update(k for k, _ in b.extra)
        return cls(tuple(sorted(ops)), NUMERIC_FIELDS + tuple(sorted(extras - set(NUMERIC_FIELDS))))

    # ------------------------------------------------------------------ persistence
    def to_state(self) -> dict[str, Any]:
        """Plain lists/ints only, so `torch.load(weights_only=True)` can read it back."""
        return {"version": self.version, "ops": list(self.ops), "numeric": list(self.numeric)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FeatureSchema:
        return cls(tuple(state["ops"]), tuple(state["numeric"]), int(state["version"]))

    # ------------------------------------------------------------------ encoding
    @property
    def width(self) -> int:
        return len(self.ops) + len(self.numeric) + len(ALIGN_COLUMNS)

    def op_index(self, blocks: Sequence[BlockSpec], *, strict: bool = True) -> np.ndarray:
        """Column of each block's op; -1 for an op the schema never saw (if not `strict`)."""
        index = {o: i for i, o in enumerate(self.ops)}
        out = np.fromiter((index.get(b.op_key, -1) for b in blocks), dtype=np.int64,
                          count=len(blocks))
        if strict and (out < 0).any():
            unknown = sorted({b.op_key for b, i in zip(blocks, out, strict=True) if i < 0})
            raise UserError(
                f"predictor has no training data for block op(s) {', '.join(unknown)} "
                f"(trained on: {', '.join(self.ops)}); profile them with `nas profile` and "
                "retrain with `nas predictor train`"
            )
        return out

    def numeric_matrix(self, blocks: Sequence[BlockSpec]) -> np.ndarray:
        """Raw (not log-scaled) numeric values, one row per block."""
        extras = self.numeric[len(NUMERIC_FIELDS):]
        if not blocks:
            return np.zeros((0, len(self.numeric)))
        # one list comprehension + one np.array: ~2x faster than filling rows one by one
        fixed = [(b.cin, b.cout, b.h, b.w, b.k, b.stride, b.expansion, b.heads, b.groups)
                 for b in blocks]
        if not extras:
            return np.array(fixed, dtype=np.float64)
        ex = [dict(b.extra) for b in blocks]
        more = [[d.get(e, 0.0) for e in extras] for d in ex]
        return np.concatenate([np.array(fixed, np.float64), np.array(more, np.float64)], axis=1)

    def encode(self, blocks: Sequence[BlockSpec], *, strict: bool = True) -> np.ndarray:
        """Float32 matrix `[n, width]`: one-hot op (all zero for an unknown op) + slog1p."""
        x = np.zeros((len(blocks), self.width), dtype=np.float32)
        idx = self.op_index(blocks, strict=strict)
        known = idx >= 0
        x[np.nonzero(known)[0], idx[known]] = 1.0
        numeric = self.numeric_matrix(blocks)
        n = len(self.ops) + len(self.numeric)
        x[:, len(self.ops):n] = slog1p(numeric)
        x[:, n:] = _align(numeric[:, 0], numeric[:, 1]) if len(blocks) else 0.0
        return x

    def encode_soft(self, terms: Sequence[SoftBlock]) -> torch.Tensor:
        """Like `encode`, with each term's soft numeric overrides as differentiable entries."""
        base = torch.from_numpy(self.encode([t.spec for t in terms]))
        col = {n: len(self.ops) + i for i, n in enumerate(self.numeric)}
        pad = {"cin": len(self.ops) + len(self.numeric), "cout": len(self.ops) + len(self.numeric) + 1}
        rows = []
        for i, t in enumerate(terms):
            row = base[i]
            if t.soft:
                row = row.clone()
                for name, value in t.soft.items():
                    if name not in col:
                        raise ValueError(
                            f"soft field '{name}' is not a predictor feature ({list(col)})"
                        )
                    v = value.to(row.dtype).reshape(())
                    row[col[name]] = _slog1p_t(v)
                    if name in pad:  # straight through: padded value forward, d/dv = 1 back
                        up = v + (torch.ceil(v.detach() / 8) * 8 - v.detach())
                        row[pad[name]] = _slog1p_t(up)
            rows.append(row)
        return torch.stack(rows) if rows else base


ALIGN_COLUMNS = ("cin_pad8", "cout_pad8", "cin_mult8", "cout_mult8")


def _align(cin: np.ndarray, cout: np.ndarray) -> np.ndarray:
    """The ALIGN_COLUMNS of each row: log of the channels padded to 8, and 0/1 alignment."""
    return np.stack([slog1p(np.ceil(cin / 8) * 8), slog1p(np.ceil(cout / 8) * 8),
                     (cin % 8 == 0).astype(np.float64), (cout % 8 == 0).astype(np.float64)], 1)


# ---------------------------------------------------------------------- store rows -> specs
def _parse_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def specs_from_rows(df: pd.DataFrame) -> list[BlockSpec]:
    """Block rows of the store (`spec` column, JSON of `BlockSpec.to_dict()`) as BlockSpecs."""
    return [BlockSpec.from_dict(_parse_json(s)) for s in df["spec"]]


def networks_from_rows(df: pd.DataFrame) -> list[list[BlockSpec]]:
    """Network rows of the store (`blocks` column, JSON list of spec dicts) as block lists."""
    return [[BlockSpec.from_dict(d) for d in _parse_json(bl)] for bl in df["blocks"]]


@functools.lru_cache(maxsize=200_000)
def block_macs(spec: BlockSpec) -> int:
    """Conv/Linear MACs of a block, built on the meta device (no weights allocated), cached."""
    from nas.models.counting import count_macs

    try:
        with torch.device("meta"):
            module = spec.to_module()
        macs, _ = count_macs(module, spec.input_shapes())
    except (NotImplementedError, RuntimeError):
        macs = spec.macs()
    return int(macs)
