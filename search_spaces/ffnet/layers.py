"""FFNet's building blocks: residual blocks, the stems and the Up-head's glue ops.

Every conv is a `ConvBNAct` (latency/ops.py), the same module the shared `conv` block op builds,
so a network assembled here and its latency blocks count exactly the same MACs.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from latency.ops import ConvBNAct


class BasicBlock(nn.Module):
    """ResNet basic block: 3x3 (carries the stride) BN ReLU, 3x3 BN, + shortcut, ReLU.

    The shortcut is a strided 1x1 conv + BN only where the shape changes, as in ResNet.
    """

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = ConvBNAct(cin, cout, 3, stride)
        self.conv2 = ConvBNAct(cout, cout, 3, act=False)
        self.shortcut = (
            ConvBNAct(cin, cout, 1, stride, act=False) if stride != 1 or cin != cout
            else nn.Identity()
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class Bottleneck(nn.Module):
    """ResNet bottleneck: 1x1 to `mid`, 3x3 (carries the stride), 1x1 to `cout`, + shortcut.

    The stride sits on the 3x3 conv (ResNet v1.5), as in the official FFNet backbones.
    """

    def __init__(self, cin: int, mid: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = ConvBNAct(cin, mid, 1)
        self.conv2 = ConvBNAct(mid, mid, 3, stride)
        self.conv3 = ConvBNAct(mid, cout, 1, act=False)
        self.shortcut = (
            ConvBNAct(cin, cout, 1, stride, act=False) if stride != 1 or cin != cout
            else nn.Identity()
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv3(self.conv2(self.conv1(x))) + self.shortcut(x))


class MaxPool(nn.Module):
    """The 3x3/2 max-pool of stem A (padding 1, so an odd size rounds up like the convs)."""

    def __init__(self, k: int = 3, stride: int = 2) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(k, stride, k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)


def _resize(x: torch.Tensor, size: tuple[int, int] | torch.Size, mode: str) -> torch.Tensor:
    # GPU models use bilinear with align_corners=True, mobile models nearest (FFNet Fig. 2).
    if mode == "bilinear":
        return F.interpolate(x, size=size, mode="bilinear", align_corners=True)
    return F.interpolate(x, size=size, mode=mode)


class UpAdd(nn.Module):
    """Up-head top-down step: resize the coarser branch to the finer one's size and add.

    Resizing to the skip's exact size (not by a fixed factor 2) keeps odd input sizes working.
    """

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return _resize(coarse, skip.shape[-2:], self.mode) + skip


class UpCat(nn.Module):
    """Resize every branch output to the finest one's size and concatenate (channels)."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, finest: torch.Tensor, *coarser: torch.Tensor) -> torch.Tensor:
        size = finest.shape[-2:]
        return torch.cat([finest, *(_resize(x, size, self.mode) for x in coarser)], dim=1)


def stem_convs(stem: str, width: int) -> list[tuple[int, int, int, int]]:
    """The stem's convs as (cin, cout, kernel, stride) (FFNet Fig. 2); stem A adds a max-pool.

    A: 7x7/2 conv, then a 3x3/2 max-pool. B: 3x3/2 conv to width/2, 3x3/2 conv to width.
    C: 3x3/2, 3x3/2, 3x3/1 convs to width (the 3-stage models' stem).
    """
    if stem == "A":
        return [(3, width, 7, 2)]
    if stem == "B":
        return [(3, width // 2, 3, 2), (width // 2, width, 3, 2)]
    if stem == "C":
        return [(3, width, 3, 2), (width, width, 3, 2), (width, width, 3, 1)]
    raise ValueError(f"unknown stem {stem!r}")


def stem_layers(stem: str, width: int) -> list[nn.Module]:
    """The stem as a list of layers, each a latency block of its own."""
    layers: list[nn.Module] = [ConvBNAct(*conv) for conv in stem_convs(stem, width)]
    return [*layers, MaxPool()] if stem == "A" else layers
