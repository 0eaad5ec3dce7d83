"""Running a routing network whose kept routes are fixed (the static network, or the supernet
after `set_arch`): no gates, every kept route has weight 1.

Semantics (the paper's cell equations with every alpha in {0, 1}): a cell receives the sum of the
routes arriving from the previous layer; a cell that receives nothing does not exist; a cell
with no kept route passes its input through on the same scale (alpha sums to 0: H = X).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn

from search_spaces.routing.topology import SHIFT, Topology, cell_key, scale_sizes


def add_all(parts: Sequence[torch.Tensor]) -> torch.Tensor:
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out


def final_features(
    arriving: Mapping[int, list[torch.Tensor]], topo: Topology,
    sizes: list[tuple[int, int]], like: torch.Tensor,
) -> list[torch.Tensor]:
    """Decoder inputs per scale; a scale nothing reached is zero (the decoder still runs on it)."""
    feats = []
    for s in range(topo.num_scales):
        parts = arriving.get(s)
        if parts:
            feats.append(add_all(parts))
        else:
            feats.append(like.new_zeros(like.shape[0], topo.channels(s), *sizes[s]))
    return feats


def run_fixed_routes(
    x: torch.Tensor, *, stem: nn.Module, cells: nn.ModuleDict, decoder: nn.Module,
    topo: Topology, routes: Sequence[Sequence[Sequence[str]]], run_gates: bool = False,
) -> torch.Tensor:
    """Logits at the input size of the network whose kept routes are `routes[layer][scale]`.

    `run_gates` also runs each computed cell's gate (output unused): the supernet's MAC count
    with every gate open, on the meta device.
    """
    feat = stem(x)
    sizes = scale_sizes(tuple(feat.shape[-2:]), topo.num_scales)
    arriving: dict[int, list[torch.Tensor]] = {0: [feat]}
    for i in range(topo.num_layers + 1):
        nxt: dict[int, list[torch.Tensor]] = {}
        for s in range(topo.num_cells(i)):
            parts = arriving.get(s)
            if not parts:
                continue
            x_in = add_all(parts)
            kept = routes[i][s]
            if not kept:  # closed cell: H = X on the same scale
                nxt.setdefault(s, []).append(x_in)
                continue
            cell = cells[cell_key(i, s)]
            if run_gates:
                cell.gate(x_in)
            h = cell.op(x_in)
            for r in kept:
                t = s + SHIFT[r]
                nxt.setdefault(t, []).append(cell.route(r, h, sizes[t]))
        arriving = nxt
    feats = final_features(arriving, topo, sizes, feat)
    return decoder(feats, tuple(x.shape[-2:]))
