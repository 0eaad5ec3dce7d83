"""One routing cell: the cell operation, the routes it may send, and (in the supernet) its gate.

The static network uses the same class without a gate and with only the kept routes' modules,
so a subnet's state-dict names are a subset of the supernet's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from search_spaces.routing.layers import GATE_BIAS, CellOp, Gate, RouteDown, RouteUp


class RoutingCell(nn.Module):
    """Cell at one scale of one layer.

    Args:
        channels: the scale's width C.
        routes: routes this cell has modules for, in gate order (`keep`, `up`, `down`).
        gate: "none" (static network), "full" or "small" (gate input shrunk x0.25).
        gate_bias: initial bias of the gate logits; 1.5 opens every route at the start.
    """

    def __init__(
        self, channels: int, routes: Sequence[str], *, gate: str = "none",
        gate_bias: float = GATE_BIAS,
    ) -> None:
        super().__init__()
        self.routes = tuple(routes)
        self.op = CellOp(channels)
        self.up = RouteUp(channels) if "up" in self.routes else None
        self.down = RouteDown(channels) if "down" in self.routes else None
        self.gate = (
            Gate(channels, len(self.routes), small=gate == "small", bias=gate_bias)
            if gate != "none" else None
        )

    def route(self, name: str, h: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """The un-gated output of route `name` from the hidden state `h` (paper's T_{s->j})."""
        if name == "keep":
            return F.relu(h)
        if name == "up":
            assert self.up is not None
            return self.up(h, size)
        assert self.down is not None
        return self.down(h)
