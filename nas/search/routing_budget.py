"""The budget loss of the routing search: expected cost of what *runs*, per image.

The supernet's own `latency_terms` weigh each block by its mean gate value, but a route with gate
0.3 costs as much as one with gate 1: it runs either way. A latency target is about what runs, so
this module records every gate's output per image during the soft forward and rebuilds, with the
supernet's rules, which cells and routes ran for each image (a cell runs when something arrives
and its gates sum to >= 1e-4; a route runs when its gate is > 0). Its probability of running is
that 0/1 indicator with a straight-through gradient through the gate value, so the budget can
still close routes by pushing their gates down to 0.

Costs per block are MACs (the paper's FLOPs budget) or the device predictor's milliseconds (the
latency budget); the fixed blocks (stem, decoder) are added for the whole-network latency.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from latency.blocks import BlockSpec, SoftBlock
from nas.runs import truncate_jsonl
from nas.train.trainer import LossContext, unwrap
from search_spaces.routing.blocks import decoder_spec, gated_specs, stem_spec
from search_spaces.routing.budget import BudgetConfig, budget_weight, flops_costs
from search_spaces.routing.supernet import CLOSED, RoutingSupernet
from search_spaces.routing.topology import SHIFT, cell_key, scale_sizes, stem_out_hw

Key = tuple[int, int, str]


class GateRecorder:
    """Forward hooks on every gate of a supernet; keeps the last training forward's outputs."""

    def __init__(self, net: RoutingSupernet) -> None:
        self.net = net
        self.gates: dict[tuple[int, int], torch.Tensor] = {}
        for i, s in net.topo.cells():
            gate = net.cells[cell_key(i, s)].gate
            assert gate is not None
            gate.register_forward_hook(self._hook(i, s))

    def _hook(self, i: int, s: int):  # noqa: ANN202
        def record(module: nn.Module, _args: Any, out: torch.Tensor) -> None:
            if module.training:
                self.gates[(i, s)] = out
        return record

    def clear(self) -> None:
        self.gates = {}


def run_probabilities(net: RoutingSupernet, gates: dict[tuple[int, int], torch.Tensor]
                      ) -> dict[Key, torch.Tensor]:
    """Per gated block, the share of the batch's images it ran for (straight-through).

    Forward value: mean over images of the 0/1 "ran" indicator. Gradient: that of the gate value
    (a cell's: its largest gate), so the budget loss moves the gates.
    """
    topo = net.topo
    b = next(iter(gates.values())).shape[0]
    ones = next(iter(gates.values())).new_ones(b)
    present: dict[int, torch.Tensor] = {0: ones}
    probs: dict[Key, torch.Tensor] = {}
    for i in range(topo.num_layers + 1):
        nxt: dict[int, torch.Tensor] = {}
        for s in range(topo.num_cells(i)):
            here = present.get(s)
            g = gates.get((i, s))
            if here is None or g is None:
                continue
            g_hard = g.detach()
            closed = (g_hard.sum(1) < CLOSED).to(g.dtype)
            live = here * (1 - closed)
            top = g.max(1).values
            probs[(i, s, "cell")] = (live + top - top.detach()).mean()  # straight-through
            for r_idx, r in enumerate(net.cells[cell_key(i, s)].routes):
                g_r = g[:, r_idx]
                ran = live * (g_hard[:, r_idx] > 0).to(g.dtype)
                probs[(i, s, r)] = (ran + g_r - g_r.detach()).mean()
                if r == "keep":  # a closed cell passes its input on: H = X
                    ran = torch.maximum(ran, here * closed)
                t = s + SHIFT[r]
                nxt[t] = ran if t not in nxt else torch.maximum(nxt[t], ran)
        present = nxt
    return probs


def soft_terms(net: RoutingSupernet, probs: dict[Key, torch.Tensor], input_hw: tuple[int, int]
               ) -> list[SoftBlock]:
    """Gated blocks at the deployment size with their run probabilities (0 if never reached)."""
    out = []
    for key, spec in gated_specs(net.topo, input_hw):
        p = probs.get(key)
        out.append(SoftBlock(spec=spec, prob=p if p is not None else 0.0))
    return out


def fixed_specs(net: RoutingSupernet, input_hw: tuple[int, int], num_classes: int
                ) -> list[BlockSpec]:
    """The blocks every image runs: stem and decoder (with the classifier)."""
    topo = net.topo
    sizes = scale_sizes(stem_out_hw(input_hw), topo.num_scales)
    return [stem_spec(topo.base_channels, *input_hw),
            decoder_spec(topo.base_channels, topo.num_scales, num_classes, *sizes[0])]


@dataclass
class BudgetLoss:
    """`loss(net, gates, progress) -> (L_C, figure)`: FLOPs ratio or expected milliseconds.

    Args:
        cfg: lambda, mu and the 40%/2% schedule.
        input_hw: deployment input size the blocks are resolved at.
        num_classes: classes of the decoder block.
        predictor: the device's differentiable latency model (latency budget only).
        target_ms: the average latency target (latency budget only).
    """

    cfg: BudgetConfig
    input_hw: tuple[int, int]
    num_classes: int
    predictor: Any = None
    target_ms: float | None = None
    _block_ms: torch.Tensor | None = field(default=None, repr=False)

    def expected_ms(self, net: RoutingSupernet, terms: list[SoftBlock]) -> torch.Tensor:
        """Whole-network expected ms: stem + decoder + sum of run probability x block ms,
        network-corrected like `Predictor.expected`. The block shapes never change (no soft
        channel counts here), so their milliseconds are predicted once and cached."""
        fixed = fixed_specs(net, self.input_hw, self.num_classes)
        if self._block_ms is None:
            specs = fixed + [t.spec for t in terms]
            self._block_ms = torch.as_tensor(self.predictor.predict(specs), dtype=torch.float32)
        prob = torch.stack([torch.ones(()) for _ in fixed]
                           + [torch.as_tensor(t.prob, dtype=torch.float32).reshape(())
                              for t in terms])
        ops = [s.op_key for s in fixed] + [t.spec.op_key for t in terms]
        return self.predictor.correction.apply_t(self._block_ms, prob, ops)

    @property
    def kind(self) -> str:
        return "flops" if self.target_ms is None else "latency"

    def __call__(self, net: RoutingSupernet, gates: dict[tuple[int, int], torch.Tensor],
                 progress: float) -> tuple[torch.Tensor, float]:
        terms = soft_terms(net, run_probabilities(net, gates), self.input_hw)
        w = budget_weight(progress, self.cfg)
        if self.kind == "flops":
            cost = flops_costs([t.spec for t in terms])
            expected = sum(t.prob * c for t, c in zip(terms, cost.unbind(0), strict=True))
            ratio = expected / float(cost.sum())
            # paper: L_C = (C(Space) / C - mu)^2, times lambda and the warm-up weight
            return self.cfg.lam * w * (ratio - self.cfg.mu) ** 2, float(ratio.detach())
        ms = self.expected_ms(net, terms)
        assert self.target_ms is not None
        # L_C with the latency budget: C(Space) in predicted ms, normalised by the target
        return self.cfg.lam * w * (ms / self.target_ms - 1) ** 2, float(ms.detach())


class BudgetHook:
    """Trainer `extra_loss`: adds L_C and logs the expected cost (ratio or ms) per step."""

    def __init__(self, net: RoutingSupernet, loss: BudgetLoss, iterations: int,
                 log_path: Path) -> None:
        self.recorder = GateRecorder(net)
        self.loss, self.iterations, self.log_path = loss, iterations, log_path
        self._started = False

    def __call__(self, ctx: LossContext) -> dict[str, torch.Tensor]:
        net = unwrap(ctx.model)
        if not self._started:  # a resumed run: drop log lines after the checkpoint
            truncate_jsonl(self.log_path, ctx.iteration)
            self._started = True
        progress = ctx.iteration / max(1, self.iterations)
        reg, figure = self.loss(net, self.recorder.gates, progress)  # type: ignore[arg-type]
        self.recorder.clear()
        name = "expected_ms" if self.loss.kind == "latency" else "expected_flops_ratio"
        rec = {"kind": "budget", "iter": ctx.iteration + 1, name: figure,
               "weight": budget_weight(progress, self.loss.cfg)}
        if self.loss.target_ms is not None:
            rec["target_ms"] = self.loss.target_ms
        with open(self.log_path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        return {"budget": reg}
