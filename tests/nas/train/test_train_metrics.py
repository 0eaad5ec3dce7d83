"""ConfusionMatrix against a confusion matrix computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from nas.train.metrics import ConfusionMatrix


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    # 3 classes; class 2 is never labelled but predicted once; 255 is ignored
    target = torch.tensor([[0, 0, 1, 1], [1, 255, 0, 1]])
    pred = torch.tensor([[0, 1, 1, 1], [2, 0, 0, 0]])
    return pred, target


def test_matrix_and_scores_match_hand_computation() -> None:
    pred, target = _batch()
    cm = ConfusionMatrix(3)
    cm.update(pred, target)
    # rows = true, cols = predicted, ignoring the 255 pixel:
    # true 0: pred 0,1,0 -> [2,1,0]; true 1: pred 1,1,2,0 -> [1,2,1]; true 2: none
    assert cm.mat.tolist() == [[2, 1, 0], [1, 2, 1], [0, 0, 0]]
    iou = cm.iou()
    # IoU0 = 2 / (3 + 3 - 2) = 0.5; IoU1 = 2 / (4 + 3 - 2) = 0.4; IoU2 = 0 / (0 + 1 - 0) = 0
    assert iou == pytest.approx([0.5, 0.4, 0.0])
    assert cm.miou() == pytest.approx(0.3)
    assert cm.pixel_acc() == pytest.approx(4 / 7)


def test_absent_class_is_nan_and_left_out_of_miou() -> None:
    cm = ConfusionMatrix(4)
    cm.update(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]))
    iou = cm.iou()
    assert math.isnan(iou[2]) and math.isnan(iou[3])
    assert cm.miou() == pytest.approx((0.5 + 0.5) / 2)


def test_logits_input_accumulation_merge_and_reset() -> None:
    pred, target = _batch()
    logits = torch.nn.functional.one_hot(pred, 3).permute(2, 0, 1)[None].float()
    a = ConfusionMatrix(3)
    a.update(logits, target[None])
    b = ConfusionMatrix(3)
    b.update(pred[:1], target[:1])
    b.update(pred[1:], target[1:])
    assert torch.equal(a.mat, b.mat)
    a.merge(b)
    assert int(a.mat.sum()) == 14
    a.reset()
    assert int(a.mat.sum()) == 0 and math.isnan(a.miou())


def test_out_of_range_label_raises() -> None:
    with pytest.raises(ValueError, match="label values"):
        ConfusionMatrix(2).update(torch.tensor([0, 1]), torch.tensor([0, 5]))
