"""The routing space's layers: stem, cell operation, routes, soft conditional gate, decoder.

Widths, kernel sizes and the gate's bias 1.5 follow the official implementation of "Learning
Dynamic Routing for Semantic Segmentation" (Li et al., CVPR 2020); the exact Layer16 counts
(17,784,968 params, 117.909 GMACs at 1024x2048) are checked in tests/search_spaces.
The supernet and the static network are made of the same classes, so that their state-dict
names agree and `inherit` is a plain copy.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

GATE_BIAS = 1.5


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (align_corners=False) to `size`.

    Meta tensors (MAC counting) carry no data, and torch's meta resize kernel costs ~13 ms a
    call, so there only the output shape is made: counting Layer16 then takes ~1 s, not ~8 s.
    """
    if x.device.type == "meta":
        return x.new_empty(*x.shape[:-2], int(size[0]), int(size[1]))
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def conv_bn(cin: int, cout: int, *, k: int = 1, stride: int = 1, act: bool = True) -> nn.Sequential:
    """k x k conv (no bias) + BN (+ ReLU)."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride, k // 2, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def dwconv(c: int, stride: int = 1) -> nn.Conv2d:
    """Depthwise 3x3 without norm: the official stem and SepConv put BN after the 1x1 only."""
    return nn.Conv2d(c, c, 3, stride, 1, groups=c, bias=False)


def init_weights(module: nn.Module, bias: float = 0.0) -> None:
    """Kaiming (fan_in) convs, unit BN, conv biases set to `bias` (the gate's 1.5)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.constant_(m.bias, bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class Stem(nn.Module):
    """3x3/2 conv (no padding) to C, [dw 3x3 + 1x1 + BN + ReLU], [dw 3x3/2 + 1x1 + BN + ReLU]."""

    def __init__(self, channels: int, in_ch: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_ch, channels, 3, 2, 0, bias=False), nn.BatchNorm2d(channels), nn.ReLU()
        )
        self.sep2 = nn.Sequential(dwconv(channels), conv_bn(channels, channels))
        self.sep3 = nn.Sequential(dwconv(channels, 2), conv_bn(channels, channels))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sep3(self.sep2(self.conv1(x)))


class CellOp(nn.Module):
    """The cell operation SepConv3x3(x) + x (the official cell type [sep_conv_3x3, skip])."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.sep = nn.Sequential(
            dwconv(c), conv_bn(c, c), dwconv(c), conv_bn(c, c, act=False)
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sep(x) + x


class RouteUp(nn.Module):
    """To the finer scale: ReLU, 1x1 conv C -> C/2 + BN + ReLU, bilinear to the target size."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.ReLU(), conv_bn(c, c // 2))
        init_weights(self)

    def forward(self, h: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return resize(self.proj(h), size)


class RouteDown(nn.Module):
    """To the coarser scale: ReLU, 1x1 stride-2 conv C -> 2C + BN + ReLU."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.ReLU(), conv_bn(c, 2 * c, stride=2))
        init_weights(self)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.proj(h)


class Gate(nn.Module):
    """Soft conditional gate: one activation in [0, 1) per route leaving the cell.

    `small` first shrinks the gate input x0.25 (bilinear), which is what makes the gates cheap
    (16.6 -> 1.0 GMACs on Layer16 at 1024x2048).
    """

    def __init__(self, c: int, num_routes: int, *, small: bool, bias: float = GATE_BIAS) -> None:
        super().__init__()
        self.small = small
        self.reduce = conv_bn(c, c // 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.logits = nn.Conv2d(c // 2, num_routes, 1, bias=True)
        init_weights(self, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.small:
            h, w = x.shape[-2:]
            x = resize(x, (max(1, h // 4), max(1, w // 4)))
        g = self.logits(self.pool(self.reduce(x))).flatten(1)  # paper: G = Conv(Pool(...)) + beta
        return F.relu(torch.tanh(g))  # paper: alpha = max(0, tanh(G))


class Decoder(nn.Module):
    """Per-scale 1x1 conv+BN+ReLU (64->64, 128->64, 256->128, 512->256 at width 64), summed coarse
    to fine with x2 bilinear upsampling, then a 3x3 conv to the classes and x4 bilinear."""

    def __init__(self, base: int, num_scales: int, num_classes: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(
            conv_bn(base * 2**s, base if s == 0 else base * 2 ** (s - 1))
            for s in range(num_scales)
        )
        self.classifier = nn.Conv2d(base, num_classes, 3, 1, 1, bias=True)
        init_weights(self)
        # Small logits at the start (a common segmentation-head choice; the official code uses
        # Kaiming here): untrained logits then stay O(1) and numeric checks stay meaningful.
        nn.init.normal_(self.classifier.weight, std=0.01)

    def forward(self, feats: list[torch.Tensor], out_hw: tuple[int, int]) -> torch.Tensor:
        pred: torch.Tensor | None = None
        for s in reversed(range(len(feats))):
            x = feats[s] if pred is None else feats[s] + pred
            pred = self.lateral[s](x)
            if s > 0:
                pred = resize(pred, feats[s - 1].shape[-2:])
        assert pred is not None
        logits = self.classifier(pred)
        return resize(logits, out_hw)
