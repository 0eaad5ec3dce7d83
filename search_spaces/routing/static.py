"""The static routing network of an arch: only the cells and routes it keeps, no gates.

Kept routes have weight 1; a reached cell with no kept route passes its input on (H = X) and has
no module at all; unreached cells do not exist. Exportable to ONNX as is.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from search_spaces.base import Arch
from search_spaces.routing import arch as arch_mod
from search_spaces.routing.cell import RoutingCell
from search_spaces.routing.executor import run_fixed_routes
from search_spaces.routing.layers import Decoder, Stem
from search_spaces.routing.topology import cell_key


class RoutingNet(nn.Module):
    """A plain network from a validated routing arch (the paper's "common" networks)."""

    def __init__(self, arch: Arch, num_classes: int) -> None:
        super().__init__()
        self.topo = arch_mod.topology_of(arch)
        self.routes = [[list(cell) for cell in layer] for layer in arch["routes"]]
        self.stem = Stem(self.topo.base_channels)
        self.cells = nn.ModuleDict({
            cell_key(i, s): RoutingCell(self.topo.channels(s), kept)
            for i, layer in enumerate(self.routes) for s, kept in enumerate(layer) if kept
        })
        self.decoder = Decoder(self.topo.base_channels, self.topo.num_scales, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_fixed_routes(
            x, stem=self.stem, cells=self.cells, decoder=self.decoder, topo=self.topo,
            routes=self.routes,
        )


def inherit_weights(subnet: RoutingNet, supernet: nn.Module) -> None:
    """Copy the stem, the kept cells and routes, and the decoder (weights and BN statistics).

    The modules have the same names in both networks, so each subnet tensor has its source.
    """
    src = supernet.state_dict()
    dst = subnet.state_dict()
    missing = [k for k in dst if k not in src or src[k].shape != dst[k].shape]
    if missing:
        raise ValueError(f"supernet has no matching tensor for {missing[:3]} ...")
    subnet.load_state_dict({k: src[k].detach().clone() for k in dst})
