"""SlimSeg semantic boundary supervision: boundary ground truth, L_b and the guided loss L_g.

A boundary pixel is a labelled pixel with a differently labelled pixel in its 3x3 neighbourhood
(unlabelled neighbours do not count). The auxiliary boundary head predicts it (L_b); its
prediction then selects the pixels of the boundary-guided masking loss (L_g), where the
segmentation is hardest.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nas.train.losses import IGNORE_INDEX, resize_to


@torch.no_grad()
def boundary_target(labels: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """(N, 1, H, W) float {0, 1}: 1 where a 3x3 neighbour carries another (valid) class."""
    lab = labels.unsqueeze(1).float()
    valid = labels.unsqueeze(1) != ignore_index
    big = float(ignore_index) + 1.0
    hi = F.max_pool2d(torch.where(valid, lab, torch.full_like(lab, -1.0)), 3, 1, 1)
    lo = -F.max_pool2d(-torch.where(valid, lab, torch.full_like(lab, big)), 3, 1, 1)
    edge = ((hi > lab) | ((lo < lab) & (lo >= 0))) & valid
    return edge.float()


def boundary_bce(
    logits: torch.Tensor, target: torch.Tensor, labels: torch.Tensor,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """BCE(p_b, y_b) over labelled pixels, logits upsampled to the label size."""
    logits = resize_to(logits, target.shape[-2:]).float()
    valid = (labels != ignore_index).unsqueeze(1).float()
    if not bool(valid.any()):
        return logits.sum() * 0.0
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (bce * valid).sum() / valid.sum()


def binary_kd(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) between per-pixel Bernoulli boundary probabilities (teacher fixed).

    The boundary half of SlimSeg's stepwise distillation: sum_n KD(p_b^n, p_b^{n+1}).
    """
    hw = max(tuple(student_logits.shape[-2:]), tuple(teacher_logits.shape[-2:]))
    s = resize_to(student_logits, hw).float()
    t = torch.sigmoid(resize_to(teacher_logits.detach(), hw).float())
    # KL(t || s) = BCE(s, t) - H(t); the entropy does not depend on the student
    return (F.binary_cross_entropy_with_logits(s, t, reduction="none")
            - F.binary_cross_entropy(t, t, reduction="none")).mean()


def guided_mask(boundary_logits: torch.Tensor, hw: tuple[int, int], tau: float) -> torch.Tensor:
    """M_b: (N, H, W) bool, the pixels the boundary head believes are boundary (p_b > tau)."""
    p = torch.sigmoid(resize_to(boundary_logits.detach(), hw).float())
    return p.squeeze(1) > tau


def guided_ce(
    logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """L_CE(p_ms^N, y_s): cross-entropy over the labelled pixels inside the boundary mask."""
    logits = resize_to(logits, labels.shape[-2:])
    keep = mask & (labels != ignore_index)
    if not bool(keep.any()):
        return logits.sum() * 0.0
    per_pixel = F.cross_entropy(logits.float(), labels, ignore_index=ignore_index,
                                reduction="none")
    return per_pixel[keep].mean()
