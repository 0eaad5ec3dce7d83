"""Evaluation on a labelled split: one confusion matrix, summed over batches and DDP ranks."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset

from nas.train.distributed import DistInfo, EpochSampler
from nas.train.losses import IGNORE_INDEX, resize_to
from nas.train.metrics import ConfusionMatrix


def split_outputs(out: Any) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(main logits, aux logits) from a model output: a tensor, or {"out": ..., "aux": [...]}."""
    if isinstance(out, torch.Tensor):
        return out, []
    if isinstance(out, dict):
        return out["out"], list(out.get("aux", []))
    if isinstance(out, (list, tuple)):
        return out[0], list(out[1:])
    raise TypeError(f"model returned {type(out).__name__}; expected a tensor or a dict")


def split_batch(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, labels) from a collated batch: a pair, or a dict with image/label keys."""
    if isinstance(batch, dict):
        return batch["image"], batch["label"]
    return batch[0], batch[1]


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    num_classes: int,
    *,
    info: DistInfo | None = None,
    batch_size: int = 1,
    num_workers: int = 0,
    ignore_index: int = IGNORE_INDEX,
) -> ConfusionMatrix:
    """Confusion matrix of `model` (eval mode) on `dataset`, logits upsampled to label size.

    Under DDP each rank evaluates every world_size-th image and the matrices are summed, so the
    result equals a single-process evaluation.
    """
    info = info or DistInfo()
    sampler = EpochSampler(len(dataset), rank=info.rank, world_size=info.world_size, shuffle=False)  # type: ignore[arg-type]
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        generator=torch.Generator().manual_seed(0),  # never draw from the global RNG
    )
    cm = ConfusionMatrix(num_classes, ignore_index)
    was_training = model.training
    model.eval()
    try:
        for batch in loader:
            images, labels = split_batch(batch)
            images = images.to(info.device, non_blocking=True)
            labels = labels.to(info.device, non_blocking=True)
            logits, _ = split_outputs(model(images))
            cm.update(resize_to(logits, labels.shape[-2:]).argmax(1), labels)
    finally:
        model.train(was_training)
    cm.all_reduce()
    return cm


def scores(cm: ConfusionMatrix, class_names: list[str] | None = None) -> dict[str, Any]:
    """JSON-ready scores: miou, pixel accuracy and per-class IoU (null for absent classes)."""
    iou = cm.iou()
    names = class_names or [str(i) for i in range(len(iou))]
    return {
        "miou": _num(cm.miou()),
        "pixel_acc": _num(cm.pixel_acc()),
        "iou": {name: _num(v) for name, v in zip(names, iou, strict=False)},
    }


def _num(value: float) -> float | None:
    return None if value != value else round(float(value), 6)
