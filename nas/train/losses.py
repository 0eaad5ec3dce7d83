"""Segmentation losses: cross-entropy (ignore 255), OHEM, auxiliary heads, pixel-wise KD.

Every loss takes logits that may be smaller than the label (FFNet predicts at 1/4, aux heads at
1/8..1/32) and upsamples them bilinearly to the label size first, so callers never resize.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

IGNORE_INDEX = 255


def resize_to(logits: torch.Tensor, hw: Sequence[int]) -> torch.Tensor:
    """Bilinearly upsample (N, C, h, w) logits to `hw` when they differ."""
    if tuple(logits.shape[-2:]) == tuple(hw):
        return logits
    return F.interpolate(logits, size=tuple(hw), mode="bilinear", align_corners=False)


def cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """Mean CE over labelled pixels; a batch with no labelled pixel gives 0 (not NaN)."""
    logits = resize_to(logits, target.shape[-2:])
    if not (target != ignore_index).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, target, ignore_index=ignore_index)


def ohem_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    thresh: float = 0.7,
    min_kept: int = 10000,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """Online hard-example mining: CE over the pixels the model finds hard.

    Keeps the labelled pixels whose true-class probability is below `thresh`; when fewer than
    `min_kept` are that hard, the threshold rises to the `min_kept`-th smallest probability so
    the loss never rests on a handful of pixels (the BiSeNet/STDC recipe).
    """
    logits = resize_to(logits, target.shape[-2:])
    pixel_loss = F.cross_entropy(logits, target, ignore_index=ignore_index, reduction="none")
    valid = target != ignore_index
    n_valid = int(valid.sum())
    if n_valid == 0:
        return logits.sum() * 0.0
    with torch.no_grad():
        safe_target = torch.where(valid, target, torch.zeros_like(target))
        prob = logits.softmax(dim=1).gather(1, safe_target.unsqueeze(1)).squeeze(1)
        prob = prob[valid]
        threshold = torch.tensor(thresh, dtype=prob.dtype, device=prob.device)
        if min_kept > 0:
            k = min(min_kept, n_valid)
            kth = prob.kthvalue(k).values
            threshold = torch.maximum(threshold, kth)
        keep = prob <= threshold
    return pixel_loss[valid][keep].mean()


def aux_loss(
    aux_logits: Sequence[torch.Tensor],
    target: torch.Tensor,
    criterion=cross_entropy,
    weights: Sequence[float] | float = 1.0,
) -> torch.Tensor:
    """Sum of weighted CE losses of the auxiliary heads against the ground truth.

    Args:
        aux_logits: one logits tensor per auxiliary head, any resolution.
        target: (N, H, W) labels; each head's logits are upsampled to this size.
        criterion: the per-head loss (plain or OHEM cross-entropy).
        weights: one weight per head, or one for all (the gamma of RTSeg eq. 12 is applied by
            the trainer on top of this sum).
    """
    if isinstance(weights, (int, float)):
        weights = [float(weights)] * len(aux_logits)
    if len(weights) != len(aux_logits):
        raise ValueError(f"{len(weights)} aux weights for {len(aux_logits)} aux heads")
    total = target.new_zeros((), dtype=torch.float32)
    for w, logits in zip(weights, aux_logits, strict=True):
        total = total + w * criterion(logits, target)
    return total


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    target: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """Pixel-wise distillation loss, KL(q_s || q_t) per pixel, averaged over valid pixels.

    Direction: RTSeg eq. 10 writes KL(q^s || q^t) with eq. 11 KL(P||Q) = sum P log(P/Q), i.e.
    the *student* distribution is P. That is the reverse of Hinton's KL(teacher || student): it
    is mode-seeking (the student is pushed to put mass only where the teacher does). We implement
    what the paper states. The teacher is detached; both are softened by `temperature` and the
    loss is scaled by T^2 so its gradient magnitude does not shrink with T.

    Args:
        student_logits: (N, C, h, w) student output.
        teacher_logits: (N, C, h', w') teacher output (no gradient flows into it).
        temperature: softmax temperature T.
        target: optional (N, H, W) labels: pixels equal to `ignore_index` are left out, and both
            logits are upsampled to the label size. Without it, both are brought to the larger
            of the two resolutions and every pixel counts.
    """
    teacher_logits = teacher_logits.detach()
    if target is not None:
        hw = tuple(target.shape[-2:])
    else:
        hw = max(tuple(student_logits.shape[-2:]), tuple(teacher_logits.shape[-2:]))
    s = resize_to(student_logits, hw).float() / temperature
    t = resize_to(teacher_logits, hw).float() / temperature
    log_qs = F.log_softmax(s, dim=1)
    log_qt = F.log_softmax(t, dim=1)
    # RTSeg eq. 11 with P = q_s, Q = q_t: sum_c q_s (log q_s - log q_t), one value per pixel
    per_pixel = (log_qs.exp() * (log_qs - log_qt)).sum(dim=1)
    if target is not None:
        valid = target != ignore_index
        if not valid.any():
            return per_pixel.sum() * 0.0
        per_pixel = per_pixel[valid]
    # RTSeg eq. 10 sums over the pixels R; we average so lambda does not depend on image size
    return per_pixel.mean() * temperature**2
