"""The shape of the routing space: which cells exist, which routes leave and enter each cell.

Layers are numbered `0..num_layers`: layer 0 is the initial cell at 1/4 (fed by the stem), layers
`1..num_layers` are the paper's L layers. Layer `i` holds `min(i + 1, S)` cells, one per scale
1/4, 1/8, ... (cells per layer [1], [2, 3, 4, 4, ...]): a layer cannot reach a scale deeper than
its index allows. Scale `s` has `base_channels * 2**s` channels (64/128/256/512 at width 1).

A cell's routes go to the next layer: `keep` (same scale), `up` (finer: x2 resolution, C/2
channels), `down` (coarser: stride 2, 2C channels). The last layer only keeps; its outputs feed
the decoder. A route exists exactly when its target cell exists, so a cell's inputs are the
routes of the previous layer's cells at scales s-1 (down), s (keep) and s+1 (up).
"""

from __future__ import annotations

from dataclasses import dataclass

ROUTES = ("keep", "up", "down")  # gate output order of the official implementation
MAX_SCALES = 4  # strides 4, 8, 16, 32
# Scale shift of each route: target scale = source scale + SHIFT[route].
SHIFT = {"keep": 0, "up": -1, "down": 1}


@dataclass(frozen=True)
class Topology:
    """Cells and routes of one routing space.

    Args:
        num_layers: L, the number of routing layers after the initial cell (16 or 33 in the paper).
        num_scales: S, how many scales the space reaches (4: strides 4, 8, 16, 32).
        base_channels: channels at 1/4; scale s has `base_channels * 2**s`.
    """

    num_layers: int
    num_scales: int = MAX_SCALES
    base_channels: int = 64

    @property
    def strides(self) -> list[int]:
        return [4 * 2**s for s in range(self.num_scales)]

    def channels(self, scale: int) -> int:
        return self.base_channels * 2**scale

    def num_cells(self, layer: int) -> int:
        """Cells in `layer` (0 = the initial cell)."""
        return min(layer + 1, self.num_scales)

    def cells(self) -> list[tuple[int, int]]:
        """Every `(layer, scale)` in forward order."""
        return [(i, s) for i in range(self.num_layers + 1) for s in range(self.num_cells(i))]

    def allowed_routes(self, layer: int, scale: int) -> tuple[str, ...]:
        """Routes that may leave cell `(layer, scale)`, in gate order."""
        if layer == self.num_layers:
            return ("keep",)
        nxt = self.num_cells(layer + 1)
        return tuple(r for r in ROUTES if 0 <= scale + SHIFT[r] < nxt)

    def incoming(self, layer: int, scale: int) -> list[tuple[int, str]]:
        """`(source scale, route)` pairs from layer-1 that may arrive at `(layer, scale)`."""
        if layer == 0:
            return []
        prev = self.num_cells(layer - 1)
        out = []
        for route in ROUTES:
            src = scale - SHIFT[route]
            if 0 <= src < prev:
                out.append((src, route))
        return out

    def full_routes(self) -> list[list[list[str]]]:
        """Every allowed route kept: the supernet with every gate open."""
        return [
            [list(self.allowed_routes(i, s)) for s in range(self.num_cells(i))]
            for i in range(self.num_layers + 1)
        ]


def cell_key(layer: int, scale: int) -> str:
    """Module name of a cell; the same in the supernet and the static network (inherit)."""
    return f"l{layer}_s{scale}"


def scale_sizes(hw: tuple[int, int], num_scales: int) -> list[tuple[int, int]]:
    """Spatial size at each scale, given the 1/4 size: a 1x1 stride-2 conv gives ceil(h / 2)."""
    sizes = [(int(hw[0]), int(hw[1]))]
    for _ in range(num_scales - 1):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


def stem_out_hw(input_hw: tuple[int, int]) -> tuple[int, int]:
    """1/4 size after the stem: 3x3/2 without padding, then a padded 3x3/2 depthwise conv."""
    h, w = (input_hw[0] - 3) // 2 + 1, (input_hw[1] - 3) // 2 + 1
    return (h + 1) // 2, (w + 1) // 2


# Reference presets of the paper (Layer16 / Layer33 at width 64).
PRESET_LAYERS = {"layer16": 16, "layer33": 33}
