"""STDC detail guidance: binary detail ground truth from the label, and the detail loss (eq. 5).

The detail head sits on a 1/8 feature and is trained to predict where the label has edges, which
pushes spatial detail into the low-level backbone stages. It is used in training only: the head
lives under `aux_heads` and the inference network never calls it.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from nas.train.losses import IGNORE_INDEX

DETAIL_THRESHOLD = 0.1  # STDC: "Thresh: 0.1" converts the aggregated details to a binary map
DETAIL_STRIDES = (1, 2, 4)
LAPLACIAN = ((-1.0, -1.0, -1.0), (-1.0, 8.0, -1.0), (-1.0, -1.0, -1.0))


class DetailTarget(nn.Module):
    """STDC's Detail Aggregation Module: label -> binary detail map at the label's size.

    A 3x3 Laplacian is run on the label map at strides 1, 2 and 4 (so edges of small and large
    objects both show), each result is binarised, upsampled back, and the three maps are fused by
    a 1x1 conv and binarised again at 0.1.

    The fuse weights are a learnable parameter as in STDC, initialised to (0.6, 0.3, 0.1). Like
    in STDC's reference, the threshold after the fuse is a step function, so in practice no
    gradient reaches them; they stay a parameter so a checkpoint can carry tuned values.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer(
            "laplacian", torch.tensor(LAPLACIAN).view(1, 1, 3, 3), persistent=False
        )
        self.fuse = nn.Parameter(torch.tensor([0.6, 0.3, 0.1]).view(1, 3, 1, 1))

    @torch.no_grad()
    def edges(self, labels: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) binary edge maps of the strides 1, 2, 4, at the label size."""
        x = labels.unsqueeze(1).float()
        # replicate padding: the image border is not an edge (zero padding would make every
        # class touching the border look like detail)
        padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
        maps = []
        for stride in DETAIL_STRIDES:
            e = F.conv2d(padded, self.laplacian, stride=stride).clamp(min=0)
            e = (e > DETAIL_THRESHOLD).float()
            if stride > 1:
                e = F.interpolate(e, size=x.shape[-2:], mode="nearest")
            maps.append(e)
        return torch.cat(maps, dim=1)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) float {0, 1} detail ground truth of (N, H, W) labels."""
        fused = F.conv2d(self.edges(labels), self.fuse.to(torch.float32))
        return (fused > DETAIL_THRESHOLD).float()


def dice_loss(probs: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """STDC eq. 5 per image, averaged: 1 - (2 sum p g + eps) / (sum p^2 + sum g^2 + eps).

    `eps` is the paper's Laplace smoothing term (1). Inputs are (N, 1, H, W), already masked.
    """
    p, g = probs.flatten(1), target.flatten(1)
    inter = (p * g).sum(1)
    union = (p * p).sum(1) + (g * g).sum(1)
    return (1.0 - (2.0 * inter + eps) / (union + eps)).mean()  # STDC eq. 5


def detail_loss(
    logits: torch.Tensor, target: torch.Tensor, labels: torch.Tensor,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """BCE + Dice between the detail logits (any resolution) and the detail ground truth.

    The logits are upsampled to the target size (STDC does the same); unlabelled pixels count
    for neither term.
    """
    if logits.shape[-2:] != target.shape[-2:]:
        logits = F.interpolate(logits, size=target.shape[-2:], mode="bilinear",
                               align_corners=False)
    logits = logits.float()
    valid = (labels != ignore_index).unsqueeze(1).float()
    if not bool(valid.any()):
        return logits.sum() * 0.0
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    bce = (bce * valid).sum() / valid.sum()
    return bce + dice_loss(torch.sigmoid(logits) * valid, target * valid)
