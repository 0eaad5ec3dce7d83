"""Segmentation metrics from a confusion matrix: per-class IoU, mIoU, pixel accuracy.

A confusion matrix is the one statistic that sums exactly across batches and across DDP ranks,
so every evaluation (in-training, `nas eval`, search drivers) accumulates one and derives the
scores at the end rather than averaging per-batch scores.
"""

from __future__ import annotations

import math

import torch

from nas.train.losses import IGNORE_INDEX


class ConfusionMatrix:
    """Counts of (true class, predicted class) over every labelled pixel seen.

    Args:
        num_classes: classes the model predicts; labels outside [0, num_classes) other than
            `ignore_index` are a bug in the data and raise.
        ignore_index: label value of unlabelled pixels, left out of every count.
    """

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.mat = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def reset(self) -> None:
        self.mat.zero_()

    @torch.no_grad()
    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch: `pred` is class indices (N, H, W) or logits (N, C, H, W) at label size."""
        if pred.dim() == target.dim() + 1:
            pred = pred.argmax(dim=1)
        if pred.shape != target.shape:
            raise ValueError(f"prediction {tuple(pred.shape)} vs label {tuple(target.shape)}")
        target = target.reshape(-1).to(torch.int64)
        pred = pred.reshape(-1).to(torch.int64)
        valid = target != self.ignore_index
        target, pred = target[valid], pred[valid]
        if target.numel() and (target.min() < 0 or target.max() >= self.num_classes):
            raise ValueError(
                f"label values must be in [0, {self.num_classes}) or {self.ignore_index}"
            )
        n = self.num_classes
        counts = torch.bincount(target * n + pred, minlength=n * n).reshape(n, n)
        self.mat += counts.cpu()

    def merge(self, other: ConfusionMatrix) -> None:
        self.mat += other.mat

    def all_reduce(self) -> None:
        """Sum the matrices of every DDP rank in place (no-op outside a process group)."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            backend = dist.get_backend()
            device = "cuda" if backend == "nccl" else "cpu"
            buf = self.mat.to(device)
            dist.all_reduce(buf, op=dist.ReduceOp.SUM)
            self.mat = buf.cpu()

    def iou(self) -> list[float]:
        """IoU per class = TP / (TP + FP + FN); nan for a class absent from labels and preds."""
        mat = self.mat.to(torch.float64)
        tp = mat.diag()
        union = mat.sum(0) + mat.sum(1) - tp
        return [float(t / u) if u > 0 else math.nan for t, u in zip(tp, union, strict=True)]

    def miou(self) -> float:
        """Mean IoU over the classes present in the labels or predictions (nan if none)."""
        present = [v for v in self.iou() if not math.isnan(v)]
        return sum(present) / len(present) if present else math.nan

    def pixel_acc(self) -> float:
        total = int(self.mat.sum())
        return float(self.mat.diag().sum()) / total if total else math.nan
