"""`BoosterLoss`: the trainer's `extra_loss` hook for detail guidance, boundary and slimmable.

The trainer runs the model once at the largest width and adds CE + aux (+ KD); this hook adds:
- detail: `detail_weight * (BCE + Dice)` of the detail logits (STDC eq. 5), at every width;
- boundary: `lambda1 * L_b` and `lambda2 * L_g` (SlimSeg);
- slimmable: runs the smaller widths, largest first, each distilled from the next larger one
  (SlimSeg stepwise downward distillation), the boundary head and the guided loss included:
    L_seg = CE(p^N, y) + sum_n KD(p^n, p^{n+1})
    L_b   = BCE(p_b^N, y_b) + sum_n KD(p_b^n, p_b^{n+1})
    L_g   = CE(M_b^N(p^N), y) + sum_n KD(M_b^n(p^n), p^{n+1})
    L     = L_seg + lambda1 L_b + lambda2 L_g
KD is KL(teacher || student) of temperature-softened class probabilities, teacher detached.
Slimmable training runs several forwards per step, so it is single-process only (no DDP).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nas.train.boosters.boundary import (
    binary_kd,
    boundary_bce,
    boundary_target,
    guided_ce,
    guided_mask,
)
from nas.train.boosters.config import BoosterConfig
from nas.train.boosters.detail import DetailTarget, detail_loss
from nas.train.boosters.slimmable import set_width
from nas.train.evaluate import split_outputs
from nas.train.losses import IGNORE_INDEX, resize_to
from nas.train.trainer import LossContext, unwrap


def soft_kd(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor,
            mask: torch.Tensor | None = None, temperature: float = 1.0) -> torch.Tensor:
    """Per-pixel KL(q_t || q_s) averaged over labelled pixels (and `mask` where given)."""
    hw = tuple(labels.shape[-2:])
    s = resize_to(student, hw).float() / temperature
    t = resize_to(teacher.detach(), hw).float() / temperature
    log_t = F.log_softmax(t, dim=1)
    per_pixel = (log_t.exp() * (log_t - F.log_softmax(s, dim=1))).sum(1)
    keep = labels != IGNORE_INDEX
    if mask is not None:
        keep = keep & mask
    if not bool(keep.any()):
        return per_pixel.sum() * 0.0
    return per_pixel[keep].mean() * temperature**2


@dataclass
class _Width:
    logits: torch.Tensor
    extras: dict[str, torch.Tensor]


class BoosterLoss:
    """Trainer `extra_loss` for a `BoostedNet` (see the module docstring).

    Args:
        cfg: which boosters run and their weights.
    """

    def __init__(self, cfg: BoosterConfig) -> None:
        self.cfg = cfg
        self.detail_target = DetailTarget() if cfg.detail else None

    def __call__(self, ctx: LossContext) -> dict[str, torch.Tensor]:
        cfg, net, labels = self.cfg, unwrap(ctx.model), ctx.labels
        terms: dict[str, torch.Tensor] = {}
        runs = [_Width(ctx.logits, dict(net.extras))]  # the trainer's forward: largest width
        if cfg.slimmable:
            for w in reversed(cfg.widths[:-1]):
                set_width(net, w)
                logits, _ = split_outputs(ctx.model(ctx.images))
                runs.append(_Width(logits, dict(net.extras)))
            set_width(net, cfg.widths[-1])
        detail_t = self.detail_target.to(labels.device)(labels) if self.detail_target else None
        y_b = boundary_target(labels) if cfg.boundary else None
        hw = tuple(labels.shape[-2:])
        zero = ctx.logits.sum() * 0.0
        kd = lb = lg = det = zero
        for i, run in enumerate(runs):
            if detail_t is not None:
                det = det + detail_loss(run.extras["detail"], detail_t, labels)
            mask = guided_mask(run.extras["boundary"], hw, cfg.tau) if y_b is not None else None
            if i == 0:
                if y_b is not None:  # SlimSeg: BCE(p_b^N, y_b) and CE(M_b^N(p^N), y)
                    lb = lb + boundary_bce(run.extras["boundary"], y_b, labels)
                    lg = lg + guided_ce(run.logits, labels, mask)
                continue
            bigger = runs[i - 1]  # stepwise downward: the next larger width teaches
            # SlimSeg L_seg: sum_n KD(p^n, p^{n+1})
            kd = kd + soft_kd(run.logits, bigger.logits, labels, temperature=cfg.kd_temperature)
            if y_b is not None:
                # SlimSeg L_b: sum_n KD(p_b^n, p_b^{n+1}); L_g: sum_n KD(M_b^n(p^n), p^{n+1})
                lb = lb + binary_kd(run.extras["boundary"], bigger.extras["boundary"])
                lg = lg + soft_kd(run.logits, bigger.logits, labels, mask, cfg.kd_temperature)
        if detail_t is not None:
            terms["detail"] = cfg.detail_weight * det
        if cfg.slimmable:
            terms["slim_kd"] = kd  # L_seg's distillation sum; its CE is the trainer's "ce"
        if y_b is not None:
            terms["boundary"] = cfg.lambda1 * lb
            terms["guided"] = cfg.lambda2 * lg
        return terms
