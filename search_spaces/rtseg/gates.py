"""The two relaxations RTSeg searches through: DWBC channel gates and Gumbel block choices.

Masks travel through the network as a dict `{group: (C,) tensor}` (None in a plain network). A
mask is applied *after* BN and activation, so a pruned channel is exactly zero where the next layer
reads it; that makes the gated supernet compute what the physically pruned network computes.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

Masks = dict[str, torch.Tensor] | None

GATE_INIT = 1.0  # DWBC weights start above the threshold: every channel kept at first
THRESHOLD = 0.5  # T_h of RTSeg eq. 3


def ste_binarize(c: torch.Tensor, threshold: float = THRESHOLD, min_keep: int = 0) -> torch.Tensor:
    """b = 1[c > T_h] in the forward pass (RTSeg eq. 3); dL/dc = dL/db in the backward (eq. 6).

    `c - c.detach()` is exactly zero, so the value is exactly binary while the gradient is the
    identity (the straight-through estimator). With `min_keep`, the `min_keep` largest weights
    stay kept even below the threshold: the supernet floors every group at the fraction `sample()`
    and the attainable range assume, instead of letting the latency loss prune a group to one
    channel (seen on `cpu` at low targets), where accuracy collapses.
    """
    hard = c.detach() > threshold
    if min_keep > 0 and int(hard.sum()) < min_keep:
        hard[torch.topk(c.detach(), min(min_keep, c.numel())).indices] = True
    return hard.to(c.dtype) + (c - c.detach())


def gumbel_hard(logits: torch.Tensor, tau: float) -> torch.Tensor:
    """A one-hot sample over the mixed-block paths with straight-through gradients (eq. 7)."""
    return F.gumbel_softmax(logits, tau=tau, hard=True)


def argmax_onehot(logits: torch.Tensor) -> torch.Tensor:
    """The most likely path as a float one-hot, built from tensor ops only (ONNX-exportable)."""
    idx = torch.arange(logits.numel(), device=logits.device)
    return (idx == torch.argmax(logits)).to(logits.dtype)


def gate(x: torch.Tensor, masks: Masks, group: str | None) -> torch.Tensor:
    """Multiply the channels (dim 1) of `x` by the group's binary mask (RTSeg eq. 4)."""
    if masks is None or group is None:
        return x
    return x * masks[group].view(1, -1, *([1] * (x.dim() - 2)))


def masked_layer_norm(x: torch.Tensor, mask: torch.Tensor | None, norm: nn.LayerNorm) -> torch.Tensor:
    """LayerNorm over the last dim counting only the kept features.

    A plain LayerNorm would average the pruned (zero) features in, so the gated supernet would
    differ from the pruned network; normalising over the kept features keeps them equal.
    """
    if mask is None:
        return norm(x)
    n = mask.sum().clamp(min=1.0)
    mean = (x * mask).sum(-1, keepdim=True) / n
    var = (((x - mean) * mask) ** 2).sum(-1, keepdim=True) / n
    return ((x - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias) * mask
