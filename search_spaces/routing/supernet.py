"""The routing supernet: every cell and route of the space, each cell with a soft conditional gate.

Three ways to run it:
- soft (training, and evaluation of batches): every cell computed, each route output weighted by
  its gate; per image, a cell whose gates sum below 1e-4 passes its input through (H = X) and
  sends nothing up or down. Training returns
  `{"out": logits, "aux": [], "expected_cost": MACs (differentiable), "max_cost": MACs}`,
  where `expected_cost` is the gate-weighted cost of cells and routes at the batch's size.
- dynamic (eval, batch of one image): the same numbers, but closed cells and routes whose gate is
  0 are not computed at all, so the saving shows in time. See `search_spaces.routing.dynamic`.
- fixed (after `set_arch`): the kept routes of an arch with weight 1 and no gates: exactly what
  `build(arch)` + `inherit` computes.
Eval always returns the logits tensor at the input size.

Where we differ from the official code, on purpose:
- a route that did not run counts as absent, so a cell that only receives absent routes does not
  exist for that image (official: it runs on a zero tensor). Soft and dynamic paths agree on it.
- in training, a closed cell's tiny keep/up/down contributions (gates sum < 1e-4) are dropped
  rather than kept, so training computes what inference computes.
- the initial cell's operation is part of the budget's cost (official: only its routes): it is
  gated and skipping it saves real time.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from latency.blocks import SoftBlock
from nas.errors import UserError
from search_spaces.base import Arch
from search_spaces.routing import arch as arch_mod
from search_spaces.routing import costs
from search_spaces.routing.cell import RoutingCell
from search_spaces.routing.executor import final_features, run_fixed_routes
from search_spaces.routing.layers import Decoder, Stem
from search_spaces.routing.topology import SHIFT, Topology, cell_key, scale_sizes

CLOSED = 1e-4  # a cell whose gates sum below this is skipped (official implementation)
Routed = tuple[torch.Tensor, torch.Tensor]  # a route's output and its per-image presence


class RoutingSupernet(nn.Module):
    """Dynamic routing network with soft conditional gates.

    Args:
        topo: layers, scales and width.
        num_classes: output classes.
        small_gate: shrink each gate's input x0.25 first (Dynamic-A/B/C use it).
        gate_bias: initial gate logit bias (1.5: every route starts open, tanh(1.5) = 0.905).
    """

    def __init__(
        self, topo: Topology, num_classes: int, *, small_gate: bool = False,
        gate_bias: float = 1.5,
    ) -> None:
        super().__init__()
        self.topo, self.num_classes, self.small_gate = topo, num_classes, small_gate
        self.stem = Stem(topo.base_channels)
        self.cells = nn.ModuleDict({
            cell_key(i, s): RoutingCell(
                topo.channels(s), topo.allowed_routes(i, s),
                gate="small" if small_gate else "full", gate_bias=gate_bias,
            )
            for i, s in topo.cells()
        })
        self.decoder = Decoder(topo.base_channels, topo.num_scales, num_classes)
        self.fixed_routes: list[list[list[str]]] | None = None
        self.dynamic_inference = True  # eval with one image skips closed cells and routes
        self.last_probs: dict[tuple[int, int, str], torch.Tensor] = {}
        self.last_execution: Any = None  # dynamic.Execution of the last single-image forward
        self.reset_usage()

    # ------------------------------------------------------------------ route usage statistics
    def reset_usage(self) -> None:
        """Forget how often each route ran (the statistics `derive` turns into a common net)."""
        self.usage: dict[tuple[int, int, str], float] = {}
        self.images_seen = 0

    def _count_usage(self, key: tuple[int, int, str], ran: torch.Tensor | float) -> None:
        # tensors stay tensors (no device sync per route); `derive` reads them once
        v = ran.detach().sum() if isinstance(ran, torch.Tensor) else float(ran)
        self.usage[key] = self.usage.get(key, 0.0) + v  # type: ignore[assignment]

    # ---------------------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, Any]:
        if self.fixed_routes is not None:
            logits = run_fixed_routes(
                x, stem=self.stem, cells=self.cells, decoder=self.decoder, topo=self.topo,
                routes=self.fixed_routes,
            )
            if self.training:
                zero = logits.new_zeros(())
                return {"out": logits, "aux": [], "expected_cost": zero, "max_cost": 1.0}
            return logits
        if x.device.type == "meta":
            # Meta tensors (MAC counting) carry no values, so no gate can decide: count the
            # network with every gate open, the paper's reference figure, without the masks.
            return run_fixed_routes(
                x, stem=self.stem, cells=self.cells, decoder=self.decoder, topo=self.topo,
                routes=self.topo.full_routes(), run_gates=True,
            )
        if not self.training and self.dynamic_inference and x.shape[0] == 1:
            from search_spaces.routing.dynamic import dynamic_forward

            return dynamic_forward(self, x)
        logits, expected, maximum = self._soft_forward(x)
        if self.training:
            return {"out": logits, "aux": [], "expected_cost": expected, "max_cost": maximum}
        return logits

    def _soft_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Every cell computed, routes weighted by their gates, closed cells masked per image.

        Each route travels with its presence (B, 1, 1, 1): 1 where it ran for that image, so a
        cell that only receives absent routes is absent too, as in the dynamic path.
        """
        topo, b = self.topo, x.shape[0]
        feat = self.stem(x)
        sizes = scale_sizes(tuple(feat.shape[-2:]), topo.num_scales)
        table = costs.cost_table(topo, sizes)
        arriving: dict[int, list[Routed]] = {0: [(feat, feat.new_ones(b, 1, 1, 1))]}
        self.last_probs = {}
        if not self.training:
            self.images_seen += b
        for i in range(topo.num_layers + 1):
            nxt: dict[int, list[Routed]] = {}
            for s in range(topo.num_cells(i)):
                if arriving.get(s):
                    for t, routed in self._soft_cell(i, s, arriving[s], sizes):
                        nxt.setdefault(t, []).append(routed)
            arriving = nxt
        feats = final_features(
            {s: [t for t, _ in v] for s, v in arriving.items()}, topo, sizes, feat
        )
        logits = self.decoder(feats, tuple(x.shape[-2:]))
        # paper: C(Space) = sum of node costs, each weighted by its (batch-mean) gate
        expected = feat.new_zeros(())
        for key, prob in self.last_probs.items():
            expected = expected + prob * table[key]
        return logits, expected, costs.max_cost(table)

    def _soft_cell(
        self, i: int, s: int, parts: list[Routed], sizes: list[tuple[int, int]],
    ) -> list[tuple[int, Routed]]:
        """One cell on a batch: its routes as (target scale, (tensor, presence))."""
        x_in, present = parts[0]
        for t, p in parts[1:]:
            x_in, present = x_in + t, torch.maximum(present, p)
        b = x_in.shape[0]
        cell = self.cells[cell_key(i, s)]
        g = cell.gate(x_in)  # (B, routes)
        closed = (g.sum(1) < CLOSED).to(g.dtype).view(b, 1, 1, 1)
        live = present * (1 - closed)
        h = cell.op(x_in)
        # official code: a cell's cost is weighted by its largest gate
        self.last_probs[(i, s, "cell")] = (g.max(1).values * present.view(b)).mean()
        out: list[tuple[int, Routed]] = []
        for r_idx, r in enumerate(cell.routes):
            t = s + SHIFT[r]
            g_r = g[:, r_idx].view(b, 1, 1, 1)
            y = cell.route(r, h, sizes[t]) * (g_r * live)  # paper: Y = alpha * T(H)
            ran = live * (g_r > 0).to(g.dtype)
            if not self.training:
                self._count_usage((i, s, r), ran)
            if r == "keep":  # a closed cell passes X on (paper: H = X)
                y, ran = y + x_in * closed, torch.maximum(ran, present * closed)
            out.append((t, (y, ran)))
            self.last_probs[(i, s, r)] = (g_r.view(b) * present.view(b)).mean()
        return out

    # -------------------------------------------------------------------- Supernet protocol
    def set_arch(self, arch: Arch | None) -> None:
        """Fix the kept routes (weight 1, gates unused); `None` goes back to dynamic routing."""
        if arch is None:
            self.fixed_routes = None
            return
        arch = arch_mod.validate(arch)
        topo = arch_mod.topology_of(arch)
        if topo != self.topo:
            raise UserError(
                f"arch fields 'num_layers'/'base_channels'/'strides': {topo.num_layers} / "
                f"{topo.base_channels} / {topo.strides} do not match the supernet's "
                f"{self.topo.num_layers} / {self.topo.base_channels} / {self.topo.strides}"
            )
        self.fixed_routes = arch["routes"]

    def derive(self, threshold: float = 0.95) -> Arch:
        """The common network: routes that ran in >= `threshold` of the images seen in eval.

        Fixed routes when `set_arch` was called; every route before any image was seen (all
        gates start open).
        """
        if self.fixed_routes is not None:
            return arch_mod.make_arch(self.topo, [list(map(list, L)) for L in self.fixed_routes])
        if self.images_seen == 0:
            return arch_mod.full_arch(self.topo)
        n = self.images_seen
        routes = [
            [[r for r in self.topo.allowed_routes(i, s)
              if float(self.usage.get((i, s, r), 0.0)) >= threshold * n - 1e-9]
             for s in range(self.topo.num_cells(i))]
            for i in range(self.topo.num_layers + 1)
        ]
        return arch_mod.make_arch(self.topo, arch_mod.prune_unreachable(routes, self.topo))

    def latency_terms(self, input_hw: tuple[int, int]) -> list[SoftBlock]:
        """Gated blocks at the deployment size, each with its batch-mean activation.

        One `rt_cell` per cell (prob = mean over the batch of the cell's largest gate) and one
        `rt_route_up` / `rt_route_down` per route (prob = mean gate), from the last soft forward;
        before any forward every prob is 1. Keep routes (a ReLU), stem, gates and decoder are
        not gated costs and are left out, as in the paper's budget.
        """
        from search_spaces.routing.blocks import gated_specs

        terms = []
        for key, spec in gated_specs(self.topo, input_hw):
            terms.append(SoftBlock(spec=spec, prob=self.last_probs.get(key, 1.0)))
        return terms
