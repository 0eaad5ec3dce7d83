"""Latency blocks of the routing space (ops `rt_stem`, `rt_cell`, `rt_route_up`,
`rt_route_down`, `rt_decoder`) and the cutting of a routing network into them.

One block is what a runtime runs as one unit: the stem, one cell (sum of its k arriving routes,
then SepConv3x3 + skip), one up or down route, the decoder with the classifier. Keep routes (a
ReLU) and closed cells (pass-through) have no MACs and no block.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from latency.blocks import BlockSpec, register_block_op
from search_spaces.base import Arch
from search_spaces.routing import arch as arch_mod
from search_spaces.routing.executor import add_all
from search_spaces.routing.layers import CellOp, Decoder, RouteDown, RouteUp, Stem
from search_spaces.routing.topology import SHIFT, Topology, scale_sizes, stem_out_hw

OWNER = "routing"


# ------------------------------------------------------------------------------------ specs
def stem_spec(base: int, h: int, w: int) -> BlockSpec:
    return BlockSpec("rt_stem", 3, base, h, w, k=3, stride=4)


def cell_spec(c: int, h: int, w: int, inputs: int) -> BlockSpec:
    return BlockSpec("rt_cell", c, c, h, w, k=3, groups=c, extra=(("inputs", inputs),))


def up_spec(c: int, h: int, w: int) -> BlockSpec:
    return BlockSpec("rt_route_up", c, c // 2, h, w, k=1, mode="bilinear")


def down_spec(c: int, h: int, w: int) -> BlockSpec:
    return BlockSpec("rt_route_down", c, 2 * c, h, w, k=1, stride=2)


def decoder_spec(base: int, scales: int, num_classes: int, h: int, w: int) -> BlockSpec:
    """The decoder at 1/4 size h x w; its inputs are the `scales` last-layer features."""
    return BlockSpec("rt_decoder", base, num_classes, h, w, k=3, extra=(("scales", scales),))


# ---------------------------------------------------------------------------- block modules
class _CellBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.op = CellOp(c)

    def forward(self, *routes: torch.Tensor) -> torch.Tensor:
        return self.op(add_all(routes))


class _UpBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.route = RouteUp(c)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.route(h, (2 * h.shape[-2], 2 * h.shape[-1]))


class _DecoderBlock(nn.Module):
    def __init__(self, base: int, scales: int, num_classes: int) -> None:
        super().__init__()
        self.decoder = Decoder(base, scales, num_classes)

    def forward(self, *feats: torch.Tensor) -> torch.Tensor:
        h, w = feats[0].shape[-2:]
        return self.decoder(list(feats), (4 * h, 4 * w))


def _cell_inputs(s: BlockSpec) -> list[tuple[int, ...]]:
    return [(1, s.cin, s.h, s.w)] * int(s.get("inputs", 1))


def _decoder_inputs(s: BlockSpec) -> list[tuple[int, ...]]:
    sizes = scale_sizes((s.h, s.w), int(s.get("scales", 4)))
    return [(1, s.cin * 2**i, h, w) for i, (h, w) in enumerate(sizes)]


register_block_op("rt_stem", lambda s: Stem(s.cout, s.cin), owner=OWNER)
register_block_op("rt_cell", lambda s: _CellBlock(s.cin), inputs=_cell_inputs, owner=OWNER)
register_block_op("rt_route_up", lambda s: _UpBlock(s.cin), owner=OWNER)
register_block_op("rt_route_down", lambda s: RouteDown(s.cin), owner=OWNER)
register_block_op(
    "rt_decoder", lambda s: _DecoderBlock(s.cin, int(s.get("scales", 4)), s.cout),
    inputs=_decoder_inputs, owner=OWNER,
)


# ---------------------------------------------------------------------------------- cutting
def routing_blocks(arch: Arch, input_hw: tuple[int, int], num_classes: int) -> list[BlockSpec]:
    """The static network of a (validated) arch as blocks; their MACs sum to the network's."""
    topo = arch_mod.topology_of(arch)
    sizes = scale_sizes(stem_out_hw(input_hw), topo.num_scales)
    specs = [stem_spec(topo.base_channels, *input_hw)]
    arriving = {0: 1}  # scale -> number of routes arriving at the current layer
    for layer in arch["routes"]:
        nxt: dict[int, int] = {}
        for s, kept in enumerate(layer):
            n_in = arriving.get(s, 0)
            if not n_in:
                continue
            if not kept:
                nxt[s] = nxt.get(s, 0) + 1
                continue
            c, (h, w) = topo.channels(s), sizes[s]
            specs.append(cell_spec(c, h, w, n_in))
            for r in kept:
                if r == "up":
                    specs.append(up_spec(c, h, w))
                elif r == "down":
                    specs.append(down_spec(c, h, w))
                t = s + SHIFT[r]
                nxt[t] = nxt.get(t, 0) + 1
        arriving = nxt
    specs.append(decoder_spec(topo.base_channels, topo.num_scales, num_classes, *sizes[0]))
    return specs


def gated_specs(topo: Topology, input_hw: tuple[int, int]) -> list[tuple[tuple, BlockSpec]]:
    """Every gated cell and up/down route of the supernet, keyed `(layer, scale, kind)`.

    A cell's spec takes all the routes that may arrive at it.
    """
    sizes = scale_sizes(stem_out_hw(input_hw), topo.num_scales)
    out: list[tuple[tuple, BlockSpec]] = []
    for i, s in topo.cells():
        c, (h, w) = topo.channels(s), sizes[s]
        out.append(((i, s, "cell"), cell_spec(c, h, w, max(1, len(topo.incoming(i, s))))))
        for r in topo.allowed_routes(i, s):
            if r == "up":
                out.append(((i, s, r), up_spec(c, h, w)))
            elif r == "down":
                out.append(((i, s, r), down_spec(c, h, w)))
    return out
