"""The runtime-vs-PyTorch check of `nas export`: absolute for small outputs, relative for large."""

from __future__ import annotations

import torch
import torch.nn as nn

from nas.export.run_export import TOLERANCE, ExportResult, _output_scale


def test_bound_is_absolute_below_one_and_relative_above() -> None:
    assert ExportResult(max_abs_diff={"onnx": 0.9 * TOLERANCE}).ok
    assert not ExportResult(max_abs_diff={"onnx": 2 * TOLERANCE}).ok
    # logits in the thousands: float32 rounding alone exceeds 1e-4, a wrong export far more
    big = ExportResult(max_abs_diff={"onnx": 1e-3}, output_scale=1360.0)
    assert big.ok and big.bound == TOLERANCE * 1360.0
    assert not ExportResult(max_abs_diff={"onnx": 1.0}, output_scale=1360.0).ok
    assert not ExportResult(max_abs_diff={"onnx": 1e-3, "tflite": 5.0}, output_scale=1360.0).ok


def test_output_scale_is_the_largest_output_at_least_one() -> None:
    x = torch.ones(1, 3, 4, 4)
    conv = nn.Conv2d(3, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(-100.0)
    assert _output_scale(conv, x) == 300.0
    with torch.no_grad():
        conv.weight.fill_(0.01)
    assert _output_scale(conv, x) == 1.0
