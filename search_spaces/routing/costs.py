"""Per-cell and per-route MACs of the routing space at a given feature size (the FLOPs budget).

Analytic, with the project's counting rule (nas.models.counting: conv MACs = output elements x
in/groups x kh x kw), so the budget needs no forward pass; tests check these numbers against
the meta-device counter of the real blocks.
"""

from __future__ import annotations

from search_spaces.routing.topology import Topology

CostKey = tuple[int, int, str]  # (layer, scale, "cell" | "keep" | "up" | "down")


def cell_macs(c: int, h: int, w: int) -> int:
    """SepConv3x3: two depthwise 3x3 and two 1x1 C->C convs at h x w (the skip adds nothing)."""
    return 2 * (9 * c * h * w + c * c * h * w)


def route_macs(route: str, c: int, h: int, w: int) -> int:
    """MACs of one route leaving a cell of width c at input size h x w."""
    if route == "up":
        return c * (c // 2) * h * w
    if route == "down":
        return ((h + 1) // 2) * ((w + 1) // 2) * c * 2 * c
    return 0  # keep: a ReLU


def cost_table(topo: Topology, sizes: list[tuple[int, int]]) -> dict[CostKey, int]:
    """MACs of every gated cell and route, given the feature size at each scale."""
    table: dict[CostKey, int] = {}
    for i, s in topo.cells():
        c, (h, w) = topo.channels(s), sizes[s]
        table[(i, s, "cell")] = cell_macs(c, h, w)
        for r in topo.allowed_routes(i, s):
            table[(i, s, r)] = route_macs(r, c, h, w)
    return table


def max_cost(table: dict[CostKey, int]) -> float:
    """C_max of the budget loss: every cell and route running (every gate 1)."""
    return float(sum(table.values()))
