"""STDC networks (Fan et al., CVPR 2021, "Rethinking BiSeNet"): classifiers and STDC-Seg.

An STDC module splits its output width N into a 1x1 conv to N/2 and a chain of 3x3 convs that
halve the width each step; the outputs are concatenated (short-term dense concatenation), so the
module sees several receptive fields at a small cost. STDC1 stacks [2, 2, 2] modules in the stages
at 1/8, 1/16, 1/32, STDC2 [4, 5, 3]. STDC-Seg puts a BiSeNet-style context path (attention
refinement, global context, feature fusion) on the backbone and, for training only, two context
heads and a detail head on the 1/8 feature (under `aux_heads`).

Layer facts follow the official implementation, so the counts match its figures exactly:
STDC1 8,443,552 / STDC2 12,474,016 params at 224x224 (including one BatchNorm1d it builds but never
calls), STDC1-Seg 8,275,104 params and 16.863 GMACs at 512x1024.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from latency.ops import ConvBNAct
from nas.models._layers import init_conv_bn, resize_to, scaled
from nas.models.registry import register_model

STDC1_LAYERS = (2, 2, 2)
STDC2_LAYERS = (4, 5, 3)


def stdc_widths(cout: int, steps: int) -> list[int]:
    """Output widths of an STDC module's convs: N/2, N/4, ..., the last repeating the one before.

    They sum to N, so the concatenation is N wide. Parameter count: STDC paper eq. 3.
    """
    if steps < 2 or cout % (2 ** (steps - 1)):
        raise ValueError(f"STDC module width {cout} must be divisible by 2^{steps - 1}")
    if steps == 2:
        return [cout // 2, cout // 2]
    widths = [cout // 2 ** (i + 1) for i in range(steps - 1)]
    return widths + [widths[-1]]


class STDCModule(nn.Module):
    """Short-term dense concatenate module (no residual).

    At stride 2 a depthwise 3x3/2 conv + BN (no ReLU) follows the first conv, and the first output
    reaches the concatenation through a 3x3/2 average pool.
    """

    def __init__(self, cin: int, cout: int, stride: int, steps: int = 4) -> None:
        super().__init__()
        widths = stdc_widths(cout, steps)
        self.stride = stride
        convs = [ConvBNAct(cin, widths[0], 1)]
        convs += [ConvBNAct(widths[i - 1], widths[i], 3) for i in range(1, steps)]
        self.convs = nn.ModuleList(convs)
        if stride == 2:
            c = widths[0]
            self.down = nn.Sequential(
                nn.Conv2d(c, c, 3, 2, 1, groups=c, bias=False), nn.BatchNorm2d(c)
            )
            self.skip_pool = nn.AvgPool2d(3, stride=2, padding=1)
        elif stride != 1:
            raise ValueError(f"STDC module stride must be 1 or 2, got {stride}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.convs[0](x)
        out = self.down(first) if self.stride == 2 else first
        outs = [self.skip_pool(first) if self.stride == 2 else first]
        for conv in self.convs[1:]:
            out = conv(out)
            outs.append(out)
        return torch.cat(outs, dim=1)


class STDCBackbone(nn.Module):
    """Two strided 3x3 ConvX (to 32, 64 ch) then three STDC stages (256, 512, 1024 ch).

    `forward` returns the features at 1/2, 1/4, 1/8, 1/16, 1/32.
    """

    def __init__(
        self, layers: Sequence[int], width_mult: float = 1.0, steps: int = 4
    ) -> None:
        super().__init__()
        divisor = 2 ** (steps - 1)
        c2, c4 = scaled(32, width_mult), scaled(64, width_mult)
        self.widths = [scaled(256 * 2**i, width_mult, divisor) for i in range(3)]
        self.conv2 = ConvBNAct(3, c2, 3, stride=2)
        self.conv4 = ConvBNAct(c2, c4, 3, stride=2)
        stages, cin = [], c4
        for depth, width in zip(layers, self.widths, strict=True):
            mods = [STDCModule(cin, width, 2, steps)]
            mods += [STDCModule(width, width, 1, steps) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*mods))
            cin = width
        self.stage8, self.stage16, self.stage32 = stages
        self.feature_widths = [c2, c4, *self.widths]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f2 = self.conv2(x)
        f4 = self.conv4(f2)
        f8 = self.stage8(f4)
        f16 = self.stage16(f8)
        return [f2, f4, f8, f16, self.stage32(f16)]


class STDCClassifier(nn.Module):
    """The ImageNet network: backbone, 1x1 ConvX to 1024, global pool, FC-ReLU-dropout-FC."""

    def __init__(
        self, layers: Sequence[int], num_classes: int = 1000, *, width_mult: float = 1.0,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.backbone = STDCBackbone(layers, width_mult)
        width = scaled(1024, width_mult)
        self.conv_last = ConvBNAct(self.backbone.widths[-1], width, 1)
        self.fc = nn.Linear(width, width, bias=False)
        # The official network builds this BatchNorm1d and never calls it (its use is commented
        # out). It stays so the parameter count and the official checkpoints' keys match.
        self.bn = nn.BatchNorm1d(width)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(width, num_classes, bias=False)
        init_conv_bn(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # squared before pooling, as in the official network (its ImageNet weights expect it)
        feat = self.conv_last(self.backbone(x)[-1]).pow(2)
        pooled = feat.mean(dim=(2, 3))
        return self.classifier(self.dropout(torch.relu(self.fc(pooled))))


class AttentionRefinement(nn.Module):
    """3x3 ConvX, then a channel gate from the globally pooled feature (1x1 conv, BN, sigmoid)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = ConvBNAct(cin, cout, 3)
        self.gate = nn.Sequential(nn.Conv2d(cout, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv(x)
        return feat * torch.sigmoid(self.gate(feat.mean(dim=(2, 3), keepdim=True)))


class FeatureFusion(nn.Module):
    """Concat the 1/8 backbone and context features, 1x1 ConvX, then a squeeze-excite residual."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = ConvBNAct(cin, cout, 1)
        self.squeeze = nn.Conv2d(cout, max(1, cout // 4), 1, bias=False)
        self.excite = nn.Conv2d(max(1, cout // 4), cout, 1, bias=False)

    def forward(self, spatial: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        feat = self.conv(torch.cat([spatial, context], dim=1))
        gate = self.excite(torch.relu(self.squeeze(feat.mean(dim=(2, 3), keepdim=True))))
        return feat * torch.sigmoid(gate) + feat


class SegHead(nn.Module):
    """3x3 ConvX then a bias-free 1x1 to the outputs (BiSeNet's output head)."""

    def __init__(self, cin: int, mid: int, cout: int) -> None:
        super().__init__()
        self.conv = ConvBNAct(cin, mid, 3)
        self.classify = nn.Conv2d(mid, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.conv(x))


class STDCSeg(nn.Module):
    """STDC-Seg: STDC backbone + context path + feature fusion; logits at the input size.

    Train mode returns `{"out", "aux": [context-1/8 logits, context-1/16 logits], "detail"}`:
    the aux logits are at the input size; `detail` is the one-channel detail-guidance logit map at
    1/8 (the detail loss resizes its target to it).

    Args:
        layers: STDC modules per stage (STDC1 [2, 2, 2], STDC2 [4, 5, 3]).
        num_classes: output classes.
        width_mult: scales every width (1.0 = the paper network; small values for tests).
        aux: build the training-only context and detail heads.
    """

    def __init__(
        self, layers: Sequence[int], num_classes: int = 19, *, width_mult: float = 1.0,
        aux: bool = True,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        self.backbone = STDCBackbone(layers, width_mult)
        _, _, c8, c16, c32 = self.backbone.feature_widths
        ctx, fused = scaled(128, width_mult), scaled(256, width_mult)
        self.global_context = ConvBNAct(c32, ctx, 1)
        self.arm32 = AttentionRefinement(c32, ctx)
        self.arm16 = AttentionRefinement(c16, ctx)
        self.refine32 = ConvBNAct(ctx, ctx, 3)
        self.refine16 = ConvBNAct(ctx, ctx, 3)
        self.fusion = FeatureFusion(c8 + ctx, fused)
        self.head = SegHead(fused, fused, num_classes)
        if aux:
            mid = scaled(64, width_mult)
            self.aux_heads = nn.ModuleDict({
                "context8": SegHead(ctx, mid, num_classes),
                "context16": SegHead(ctx, mid, num_classes),
                "detail": SegHead(c8, mid, 1),
            })
        init_conv_bn(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, object]:
        size = x.shape[-2:]
        _, _, f8, f16, f32 = self.backbone(x)
        context = self.global_context(f32.mean(dim=(2, 3), keepdim=True))
        ctx16 = self.refine32(resize_to(self.arm32(f32) + context, f16.shape[-2:], "nearest"))
        ctx8 = self.refine16(resize_to(self.arm16(f16) + ctx16, f8.shape[-2:], "nearest"))
        logits = self._up(self.head(self.fusion(f8, ctx8)), size)
        if not self.training or not hasattr(self, "aux_heads"):
            return logits
        heads = self.aux_heads
        aux = [self._up(heads["context8"](ctx8), size), self._up(heads["context16"](ctx16), size)]
        return {"out": logits, "aux": aux, "detail": heads["detail"](f8)}

    @staticmethod
    def _up(x: torch.Tensor, size: torch.Size) -> torch.Tensor:
        return resize_to(x, size, "bilinear", align_corners=True)


def _register(name: str, layers: tuple[int, ...], seg: bool) -> None:
    label = name.upper()
    if seg:
        def seg_factory(num_classes: int = 19, **kwargs: object) -> STDCSeg:
            return STDCSeg(layers, num_classes, **kwargs)  # type: ignore[arg-type]

        register_model(
            f"{name}-seg", seg_factory, family="stdc", input_hw=(512, 1024),
            description=f"{label}-Seg (context path, FFM; context + detail heads for training)",
        )
    else:
        def cls_factory(num_classes: int = 1000, **kwargs: object) -> STDCClassifier:
            return STDCClassifier(layers, num_classes, **kwargs)  # type: ignore[arg-type]

        register_model(
            name, cls_factory, family="stdc-cls", input_hw=(224, 224),
            description=f"{label} ImageNet classifier (stages {list(layers)})",
        )


for _name, _depths in (("stdc1", STDC1_LAYERS), ("stdc2", STDC2_LAYERS)):
    _register(_name, _depths, seg=False)
    _register(_name, _depths, seg=True)
