"""BlockSpec: one latency block — the unit we profile, store and predict (DESIGN.md, "BlockSpec").

A block is one kind of thing a runtime fuses and runs (`conv`, `lir`, `mhsa`, `bga`, `basic`,
...). Spaces declare their block ops with `register_block_op`; a spec then builds itself alone
(`to_module()`), knows its input shapes, its MACs and its predictor features.

Shapes: `h, w` are the block's *input* spatial size; `cin`, `cout` its input/output channels.
Fields that only some ops use (`expansion`, `heads`, `groups`, `mode`) default to neutral values;
anything else op-specific goes in `extra` as sorted `(name, number)` pairs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
import torch.nn as nn

# Numeric fields every spec has, in feature order. Changing this list changes the predictor's
# feature schema: bump FEATURE_SCHEMA_VERSION with it.
NUMERIC_FIELDS = ("cin", "cout", "h", "w", "k", "stride", "expansion", "heads", "groups")
FEATURE_SCHEMA_VERSION = 3  # 2: channel alignment columns; 3: + hidden width (features.py)


@dataclass(frozen=True)
class BlockSpec:
    """One latency block with its shapes resolved.

    Args:
        op: registered block op name.
        cin: input channels. cout: output channels.
        h, w: input spatial size.
        k: kernel size of the block's main conv. stride: its overall stride.
        expansion: hidden width / cin for expand-project blocks (LIR, bottleneck, MLP ratio).
        heads: attention heads (MHSA).
        groups: conv groups of the main conv (1 = dense, cin = depthwise).
        mode: a categorical option (upsample mode, ...); part of the op identity for features.
        extra: further op-specific numbers as sorted `(name, value)` pairs.
    """

    op: str
    cin: int
    cout: int
    h: int
    w: int
    k: int = 1
    stride: int = 1
    expansion: float = 1.0
    heads: int = 0
    groups: int = 1
    mode: str = ""
    extra: tuple[tuple[str, float], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        # Normalise `extra` so equal specs hash equal whatever order the caller used.
        object.__setattr__(self, "extra", tuple(sorted((str(k), v) for k, v in self.extra)))

    # ----------------------------------------------------------------------------- identity
    @property
    def op_key(self) -> str:
        """Op identity for one-hot encoding: the op plus its categorical mode."""
        return f"{self.op}:{self.mode}" if self.mode else self.op

    def get(self, name: str, default: float = 0.0) -> float:
        """A numeric field or an `extra` entry by name."""
        if name in NUMERIC_FIELDS:
            return float(getattr(self, name))
        return float(dict(self.extra).get(name, default))

    def numeric(self) -> dict[str, float]:
        """All numeric features by name (fixed fields then extras)."""
        out = {n: float(getattr(self, n)) for n in NUMERIC_FIELDS}
        out.update({k: float(v) for k, v in self.extra})
        return out

    def key(self) -> tuple:
        """Hashable identity used to de-duplicate sampled blocks and store rows."""
        return (self.op, self.mode, *(getattr(self, n) for n in NUMERIC_FIELDS), self.extra)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["extra"] = [list(p) for p in self.extra]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BlockSpec:
        d = dict(d)
        d["extra"] = tuple(tuple(p) for p in d.get("extra", ()))
        return cls(**d)

    def with_(self, **changes: Any) -> BlockSpec:
        return replace(self, **changes)

    # ---------------------------------------------------------------------------- building
    def block_op(self) -> BlockOp:
        if self.op not in _OPS:
            _load_ops()
        if self.op not in _OPS:
            raise KeyError(f"block op '{self.op}' is not registered (known: {sorted(_OPS)})")
        return _OPS[self.op]

    def to_module(self) -> nn.Module:
        """The block alone, with real layers and shapes, in eval mode (for profiling)."""
        return self.block_op().build(self).eval()

    def input_shapes(self) -> list[tuple[int, ...]]:
        """Shapes (batch 1) of the tensors the module's forward takes, in order."""
        return self.block_op().inputs(self)

    def example_inputs(self) -> list[torch.Tensor]:
        return [torch.randn(s) for s in self.input_shapes()]

    def macs(self) -> int:
        """Conv/Linear MACs of the block (same definition as nas.models.counting)."""
        from nas.models.counting import count_macs

        macs, _ = count_macs(self.to_module(), self.input_shapes())
        return macs

    def log_features(self) -> dict[str, float]:
        """Numeric features log-scaled (log1p), as the predictor consumes them."""
        return {k: math.log1p(v) for k, v in self.numeric().items()}


def _default_inputs(spec: BlockSpec) -> list[tuple[int, ...]]:
    return [(1, spec.cin, spec.h, spec.w)]


@dataclass(frozen=True)
class BlockOp:
    """A registered block op: how to build a spec of it and what inputs it takes.

    Args:
        name: the op name used in `BlockSpec.op`.
        build: `build(spec) -> nn.Module`.
        inputs: `inputs(spec) -> list of input shapes`; default one `(1, cin, h, w)` tensor.
        owner: the space (or `common`) that declared it.
    """

    name: str
    build: Callable[[BlockSpec], nn.Module]
    inputs: Callable[[BlockSpec], list[tuple[int, ...]]] = _default_inputs
    owner: str = "common"


_OPS: dict[str, BlockOp] = {}


def register_block_op(
    name: str,
    build: Callable[[BlockSpec], nn.Module],
    *,
    inputs: Callable[[BlockSpec], list[tuple[int, ...]]] | None = None,
    owner: str = "common",
) -> BlockOp:
    """Declare a block op. Registering the same name from another builder is an error."""
    op = BlockOp(name, build, inputs or _default_inputs, owner)
    old = _OPS.get(name)
    if old is not None and (old.build is not build or old.owner != owner):
        raise ValueError(f"block op '{name}' already registered by '{old.owner}'")
    _OPS[name] = op
    return op


def registered_ops() -> dict[str, BlockOp]:
    _load_ops()
    return dict(_OPS)


def _load_ops() -> None:
    """Spaces declare their ops on import; importing them all fills the registry."""
    import latency.ops  # noqa: F401  (shared ops)
    import search_spaces

    search_spaces.load_all()


@dataclass
class SoftBlock:
    """A differentiable block description for the latency loss (RTSeg eq. 9).

    Args:
        spec: the block at full (supernet) width: op, kernel, stride, spatial size, ...
        soft: numeric fields replaced by differentiable tensors, e.g. `{"cin": t, "cout": t}`
            with expected kept-channel counts from the STE gates, or `{"expansion": t}`.
        prob: probability that the block runs (Gumbel choice probability; 1 = always).
    """

    spec: BlockSpec
    soft: dict[str, torch.Tensor] = field(default_factory=dict)
    prob: torch.Tensor | float = 1.0
