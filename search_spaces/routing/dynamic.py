"""Data-dependent inference of one image: closed cells and zero-gate routes are not computed.

Same numbers as the supernet's soft forward (tests check it), but the work really shrinks:
a cell whose gates sum below 1e-4 runs only its gate and passes its input on (H = X), a route
whose gate is 0 runs nothing, and a cell nothing arrives at runs nothing, gate included.
`executed_macs` counts the convs that actually ran, per image.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
import torch.nn as nn

from search_spaces.routing.executor import add_all, final_features
from search_spaces.routing.topology import SHIFT, cell_key, scale_sizes

if TYPE_CHECKING:
    from search_spaces.routing.supernet import RoutingSupernet


@dataclass
class Execution:
    """What ran for one image: gate values per cell, computed cells, routes that ran."""

    gates: dict[tuple[int, int], list[float]] = field(default_factory=dict)
    computed: list[tuple[int, int]] = field(default_factory=list)
    closed: list[tuple[int, int]] = field(default_factory=list)
    routes: list[tuple[int, int, str]] = field(default_factory=list)
    macs: int | None = None  # set by `executed_macs`


def dynamic_forward(net: RoutingSupernet, x: torch.Tensor) -> torch.Tensor:
    """Logits for one image, skipping what the gates close; records `net.last_execution`."""
    from search_spaces.routing.supernet import CLOSED

    topo, rec = net.topo, Execution()
    feat = net.stem(x)
    sizes = scale_sizes(tuple(feat.shape[-2:]), topo.num_scales)
    arriving: dict[int, list[torch.Tensor]] = {0: [feat]}
    for i in range(topo.num_layers + 1):
        nxt: dict[int, list[torch.Tensor]] = {}
        for s in range(topo.num_cells(i)):
            parts = arriving.get(s)
            if not parts:
                continue  # nothing arrives: the cell does not exist for this image
            x_in = add_all(parts)
            cell = net.cells[cell_key(i, s)]
            g = cell.gate(x_in)[0]
            values = g.tolist()
            rec.gates[(i, s)] = values
            if sum(values) < CLOSED:
                rec.closed.append((i, s))
                nxt.setdefault(s, []).append(x_in)  # paper: H = X, no other outputs
                continue
            rec.computed.append((i, s))
            h = cell.op(x_in)
            for r_idx, (r, v) in enumerate(zip(cell.routes, values, strict=True)):
                if v <= 0.0:
                    continue  # max(0, tanh) is exactly 0: the route is not computed
                t = s + SHIFT[r]
                nxt.setdefault(t, []).append(cell.route(r, h, sizes[t]) * g[r_idx])
                rec.routes.append((i, s, r))
        arriving = nxt
    net.images_seen += 1
    for key in rec.routes:
        net._count_usage(key, 1.0)
    net.last_execution = rec
    feats = final_features(arriving, topo, sizes, feat)
    return net.decoder(feats, tuple(x.shape[-2:]))


@contextmanager
def count_conv_macs(model: nn.Module) -> Iterator[list[int]]:
    """Counts the MACs of every conv that runs inside the block (the rule of
    nas.models.counting; the routing space has no linear layers); total in `counter[0]`."""
    counter = [0]

    def hook(m: nn.Module, args: tuple, out: torch.Tensor) -> None:
        assert isinstance(m, nn.Conv2d)
        k = m.kernel_size[0] * m.kernel_size[1]
        counter[0] += out.numel() // out.shape[0] * (m.in_channels // m.groups) * k

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, nn.Conv2d)]
    try:
        yield counter
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def run_image(net: RoutingSupernet, image: torch.Tensor) -> tuple[torch.Tensor, Execution]:
    """Dynamic inference of one image `(1, 3, H, W)` with the executed MACs recorded."""
    if net.fixed_routes is not None or image.shape[0] != 1:
        raise ValueError("run_image needs one image and a supernet without set_arch")
    was_training = net.training
    net.eval()
    try:
        with count_conv_macs(net) as counter:
            logits = net(image)
    finally:
        net.train(was_training)
    rec = net.last_execution
    rec.macs = counter[0]
    return logits, rec
