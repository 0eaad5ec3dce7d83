"""Predictor features: op one-hot + log-scaled numeric fields, in a schema fixed at fit time.

Why a schema object: extras (`BlockSpec.extra`) differ per op and per space, and new spaces add
ops. A predictor must encode blocks exactly as it did when it was trained, so the column list
(ops seen, numeric names seen) is decided once in `FeatureSchema.fit` and saved with the weights
as plain lists. Its version is `latency.blocks.FEATURE_SCHEMA_VERSION`: a predictor saved under
another version is refused on load.

Numbers are log-scaled (signed log1p) because latency is close to multiplicative in channels and
spatial size: in log space a product of features is a sum, which a small ReLU MLP fits easily.

Latency is not smooth in channels, though: CPU kernels (ONNX Runtime's NCHWc convolutions,
XNNPACK) work on blocks of 8 channels, so 33 channels cost about what 40 do, and an unaligned
count can fall back to a slower kernel (an LIR block with a 163-wide hidden layer measured 1.6x
one with 192). Six derived columns say so: input, output and hidden (expansion x input) widths
rounded up to a multiple of 8 (log-scaled) and whether each is a multiple of 8. With the in/out
columns alone, FFNet's held-out networks within +-10% on the `cpu` host went from 55% to 85%
(experiments/results/latency-cpu).
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
        x[:, n:] = _align(numeric[:, 0], numeric[:, 1], numeric[:, 6]) if len(blocks) else 0.0
        return x

    def encode_soft(self, terms: Sequence[SoftBlock]) -> torch.Tensor:
        """Like `encode`, with each term's soft numeric overrides as differentiable entries.

        The alignment columns follow the overridden widths: padded widths straight through
        (the padded value forward, d/dwidth = 1 back), the multiple-of-8 flags from the values.
        """
        base = torch.from_numpy(self.encode([t.spec for t in terms]))
        col = {n: len(self.ops) + i for i, n in enumerate(self.numeric)}
        first_align = len(self.ops) + len(self.numeric)
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
                    row[col[name]] = _slog1p_t(value.to(row.dtype).reshape(()))
                if {"cin", "cout", "expansion"} & set(t.soft):
                    row[first_align:] = _align_t(*(
                        t.soft[n].to(row.dtype).reshape(()) if n in t.soft
                        else torch.tensor(float(getattr(t.spec, n)), dtype=row.dtype)
                        for n in ("cin", "cout", "expansion")))
            rows.append(row)
        return torch.stack(rows) if rows else base


ALIGN_COLUMNS = ("cin_pad8", "cout_pad8", "hidden_pad8", "cin_mult8", "cout_mult8",
                 "hidden_mult8")


def _align(cin: np.ndarray, cout: np.ndarray, expansion: np.ndarray) -> np.ndarray:
    """The ALIGN_COLUMNS of each row: log of the widths padded to 8, and 0/1 alignment."""
    widths = (cin, cout, np.round(cin * expansion))
    pads = [slog1p(np.ceil(c / 8) * 8) for c in widths]
    return np.stack(pads + [(c % 8 == 0).astype(np.float64) for c in widths], 1)


def _align_t(cin: torch.Tensor, cout: torch.Tensor, expansion: torch.Tensor) -> torch.Tensor:
    """`_align` of one row of (soft) widths, differentiable through the padded widths."""
    hidden = cin * expansion
    hidden = hidden + (torch.round(hidden.detach()) - hidden.detach())
    out = []
    for c in (cin, cout, hidden):
        up = c + (torch.ceil(c.detach() / 8) * 8 - c.detach())  # straight through
        out.append(_slog1p_t(up))
    out += [(torch.remainder(c.detach(), 8) == 0).to(cin.dtype) for c in (cin, cout, hidden)]
    return torch.stack(out)


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
