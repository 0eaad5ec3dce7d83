"""BiSeNetV2 (Yu et al., 2021): the two-branch real-time baseline RTSeg compares to and builds on.

A shallow, wide *detail branch* keeps spatial detail at 1/8; a deep, narrow *semantic branch*
(stem, gather-and-expand layers, context embedding) reaches 1/32; *bilateral guided aggregation*
lets each branch gate the other; a segment head predicts at 1/8 and upsamples x8. Four auxiliary
heads on the semantic stages are training-only and live under `aux_heads`.

Layer facts (bias-free convs, BN placement, a ReLU after the expanding depthwise conv, head width
1024) follow the widely used public implementation, so the counts match its 3,358,627 params and
24.603 GMACs at 512x1024 with 19 classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from latency.ops import ConvBNAct
from nas.models._layers import init_conv_bn, resize_to, scaled
from nas.models.registry import register_model


def _dw(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    """3x3 depthwise (or depthwise-expanding, cout = k * cin) conv without bias."""
    return nn.Conv2d(cin, cout, 3, stride, 1, groups=cin, bias=False)


def _pw(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, bias=False)


class DetailBranch(nn.Module):
    """Three stages of plain 3x3 conv-BN-ReLU; each stage halves the resolution (to 1/8)."""

    def __init__(self, widths: Sequence[int], depths: Sequence[int]) -> None:
        super().__init__()
        stages, cin = [], 3
        for width, depth in zip(widths, depths, strict=True):
            layers = [ConvBNAct(cin, width, 3, stride=2)]
            layers += [ConvBNAct(width, width, 3) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*layers))
            cin = width
        self.stages = nn.Sequential(*stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(x)


class StemBlock(nn.Module):
    """To 1/4 fast: a strided conv, then a strided-conv path and a max-pool path, fused by a 3x3."""

    def __init__(self, cout: int) -> None:
        super().__init__()
        self.conv = ConvBNAct(3, cout, 3, stride=2)
        self.conv_path = nn.Sequential(
            ConvBNAct(cout, max(1, cout // 2), 1), ConvBNAct(max(1, cout // 2), cout, 3, stride=2)
        )
        self.pool_path = nn.MaxPool2d(3, stride=2, padding=1)
        self.fuse = ConvBNAct(2 * cout, cout, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return self.fuse(torch.cat([self.conv_path(x), self.pool_path(x)], dim=1))


class GatherExpand(nn.Module):
    """Gather-and-expand layer: 3x3 gather, depthwise expansion (x`expansion`), 1x1 projection.

    At stride 2 the expansion is split into a strided depthwise conv and a second depthwise conv
    (a larger receptive field at the same cost), and the shortcut becomes depthwise-strided + 1x1.
    The projection's BN starts at zero so each layer starts as its shortcut.
    """

    def __init__(self, cin: int, cout: int, stride: int, expansion: int = 6) -> None:
        super().__init__()
        mid = cin * expansion
        self.gather = ConvBNAct(cin, cin, 3)
        if stride == 1:
            self.expand = nn.Sequential(_dw(cin, mid), nn.BatchNorm2d(mid), nn.ReLU(inplace=True))
            self.shortcut: nn.Module = nn.Identity()
            if cin != cout:
                raise ValueError("a stride-1 gather-expand layer keeps its width")
        else:
            self.expand = nn.Sequential(
                _dw(cin, mid, stride), nn.BatchNorm2d(mid),
                _dw(mid, mid), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            )
            self.shortcut = nn.Sequential(
                _dw(cin, cin, stride), nn.BatchNorm2d(cin), _pw(cin, cout), nn.BatchNorm2d(cout)
            )
        self.project = nn.Sequential(_pw(mid, cout), nn.BatchNorm2d(cout))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.project(self.expand(self.gather(x))) + self.shortcut(x))


class ContextEmbedding(nn.Module):
    """Global average pool -> BN -> 1x1, broadcast-added back, then a 3x3: global context cheaply."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.gap_conv = ConvBNAct(channels, channels, 1)
        self.out_conv = ConvBNAct(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        context = self.gap_conv(self.bn(x.mean(dim=(2, 3), keepdim=True)))
        return self.out_conv(x + context)


class SemanticBranch(nn.Module):
    """Stem (1/4), gather-expand stages at 1/8, 1/16, 1/32, context embedding.

    Returns every stage's output: the auxiliary heads supervise the intermediate ones.
    """

    def __init__(self, widths: Sequence[int], expansion: int = 6) -> None:
        super().__init__()
        stem, s3, s4, s5 = widths
        self.stem = StemBlock(stem)
        self.stage3 = nn.Sequential(
            GatherExpand(stem, s3, 2, expansion), GatherExpand(s3, s3, 1, expansion)
        )
        self.stage4 = nn.Sequential(
            GatherExpand(s3, s4, 2, expansion), GatherExpand(s4, s4, 1, expansion)
        )
        self.stage5 = nn.Sequential(
            GatherExpand(s4, s5, 2, expansion), *[GatherExpand(s5, s5, 1, expansion) for _ in range(3)]
        )
        self.context = ContextEmbedding(s5)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f2 = self.stem(x)
        f3 = self.stage3(f2)
        f4 = self.stage4(f3)
        f5 = self.stage5(f4)
        return [f2, f3, f4, f5, self.context(f5)]


class BilateralGuidedAggregation(nn.Module):
    """Each branch gates the other at its own resolution; the two products are summed at 1/8.

    detail (1/8) x sigmoid(up(semantic)) and down(detail) x sigmoid(semantic) (1/32), the latter
    upsampled, then a 3x3 conv-BN-ReLU. Both upsamplings are nearest, as in the reference.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        c = channels
        self.detail_keep = nn.Sequential(_dw(c, c), nn.BatchNorm2d(c), _pw(c, c))
        self.detail_down = nn.Sequential(
            nn.Conv2d(c, c, 3, 2, 1, bias=False), nn.BatchNorm2d(c),
            nn.AvgPool2d(3, stride=2, padding=1),
        )
        self.semantic_up = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c))
        self.semantic_keep = nn.Sequential(_dw(c, c), nn.BatchNorm2d(c), _pw(c, c))
        self.fuse = ConvBNAct(c, c, 3)

    def forward(self, detail: torch.Tensor, semantic: torch.Tensor) -> torch.Tensor:
        size = detail.shape[-2:]
        guide_up = resize_to(self.semantic_up(semantic), size, "nearest")
        at_detail = self.detail_keep(detail) * torch.sigmoid(guide_up)
        at_semantic = self.detail_down(detail) * torch.sigmoid(self.semantic_keep(semantic))
        return self.fuse(at_detail + resize_to(at_semantic, size, "nearest"))


class SegmentHead(nn.Module):
    """3x3 conv-BN-ReLU, dropout, [aux only: x2 up + 3x3 to up^2 ch], 1x1 to classes, resize.

    The auxiliary variant (from the reference implementation) upsamples once inside the head so
    its deep, coarse features are classified at twice their resolution.
    """

    def __init__(
        self, cin: int, mid: int, num_classes: int, aux_mid: int | None = None
    ) -> None:
        super().__init__()
        self.conv = ConvBNAct(cin, mid, 3)
        self.drop = nn.Dropout(0.1)
        if aux_mid is None:
            self.refine: nn.Module = nn.Identity()
            last = mid
        else:
            self.refine = nn.Sequential(nn.Upsample(scale_factor=2.0), ConvBNAct(mid, aux_mid, 3))
            last = aux_mid
        self.classify = nn.Conv2d(last, num_classes, 1, bias=True)

    def forward(self, x: torch.Tensor, out_size: torch.Size) -> torch.Tensor:
        logits = self.classify(self.refine(self.drop(self.conv(x))))
        return resize_to(logits, out_size, "bilinear")


class BiSeNetV2(nn.Module):
    """BiSeNetV2; eval returns logits at the input size, train adds the four auxiliary logits.

    Args:
        num_classes: output classes.
        width_mult: scales every width (1.0 = the paper network; small values for tests).
        detail_widths: detail-branch stage widths (paper: 64, 64, 128).
        detail_depths: convs per detail stage (paper: 2, 3, 3).
        semantic_widths: stem and semantic stage widths (paper: 16, 32, 64, 128); the last must
            equal the detail branch's last, since aggregation multiplies them.
        expansion: gather-expand expansion ratio (paper: 6).
        head_width: segment-head hidden width (reference: 1024).
        aux_width: auxiliary-head hidden width (reference: 128).
        aux: build the training-only auxiliary heads.
    """

    def __init__(
        self,
        num_classes: int = 19,
        *,
        width_mult: float = 1.0,
        detail_widths: Sequence[int] = (64, 64, 128),
        detail_depths: Sequence[int] = (2, 3, 3),
        semantic_widths: Sequence[int] = (16, 32, 64, 128),
        expansion: int = 6,
        head_width: int = 1024,
        aux_width: int = 128,
        aux: bool = True,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        detail = [scaled(c, width_mult) for c in detail_widths]
        semantic = [scaled(c, width_mult) for c in semantic_widths]
        if detail[-1] != semantic[-1]:
            raise ValueError(f"detail and semantic branches must end equally wide: {detail}, {semantic}")
        self.detail_branch = DetailBranch(detail, detail_depths)
        self.semantic_branch = SemanticBranch(semantic, expansion)
        self.aggregation = BilateralGuidedAggregation(detail[-1])
        self.head = SegmentHead(detail[-1], scaled(head_width, width_mult), num_classes)
        if aux:
            mid = scaled(aux_width, width_mult)
            # stem 1/4, stages 1/8, 1/16, 1/32 -> in-head widths (up/2 * 2)^2 = up^2 (reference)
            self.aux_heads = nn.ModuleList(
                SegmentHead(c, mid, num_classes, aux_mid=scaled(up * up, width_mult))
                for c, up in zip(semantic, (4, 8, 16, 32), strict=True)
            )
        init_conv_bn(self)
        for m in self.modules():
            if isinstance(m, GatherExpand):
                nn.init.zeros_(m.project[1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, object]:
        size = x.shape[-2:]
        detail = self.detail_branch(x)
        feats = self.semantic_branch(x)
        logits = self.head(self.aggregation(detail, feats[-1]), size)
        if not self.training or not hasattr(self, "aux_heads"):
            return logits
        aux = [head(f, size) for head, f in zip(self.aux_heads, feats[:4], strict=True)]
        return {"out": logits, "aux": aux}


@register_model(
    "bisenetv2",
    family="bisenetv2",
    input_hw=(512, 1024),
    description="BiSeNetV2 (detail 64/64/128, semantic 16/32/64/128, head 1024, 4 aux heads)",
)
def bisenetv2(num_classes: int = 19, **kwargs: object) -> BiSeNetV2:
    """The paper-sized BiSeNetV2; `width_mult=...` and the other `BiSeNetV2` arguments pass on."""
    return BiSeNetV2(num_classes, **kwargs)  # type: ignore[arg-type]
