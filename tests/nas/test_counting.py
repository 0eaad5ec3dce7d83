"""MAC and parameter counts against hand-computed values."""

from __future__ import annotations

import torch
import torch.nn as nn

from nas.models.counting import count_macs, count_params, profile_model


class _WithAux(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 4, 3, padding=1)  # 3*4*9 + 4 = 112 params
        self.aux_heads = nn.ModuleList([nn.Conv2d(4, 2, 1)])  # training only

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def test_conv_linear_macs_by_hand() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),  # out 8x8x8: 512 * 27 = 13824
        nn.Conv2d(8, 8, 3, padding=1, groups=8),  # depthwise: 512 * 9 = 4608
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),  # 80
    )
    macs, shape = count_macs(model, (1, 3, 16, 16))
    assert macs == 13824 + 4608 + 80
    assert shape == [1, 10]


def test_macs_are_per_image() -> None:
    model = nn.Conv2d(3, 8, 1)
    one, _ = count_macs(model, (1, 3, 10, 10))
    four, _ = count_macs(model, (4, 3, 10, 10))
    assert one == four == 100 * 3 * 8


def test_transposed_conv_macs() -> None:
    model = nn.ConvTranspose2d(4, 2, 2, stride=2)
    macs, shape = count_macs(model, (1, 4, 5, 5))
    assert shape == [1, 2, 10, 10]
    assert macs == 25 * 4 * 2 * 4


def test_meta_and_real_counts_agree() -> None:
    model = nn.Sequential(nn.Conv2d(3, 6, 5, padding=2), nn.BatchNorm2d(6), nn.ReLU(),
                          nn.Upsample(scale_factor=2.0, mode="bilinear"))
    assert count_macs(model, (1, 3, 12, 20), on_meta=True) == count_macs(
        model, (1, 3, 12, 20), on_meta=False
    )


def test_params_exclude_aux_heads() -> None:
    model = _WithAux()
    assert count_params(model) == 112
    assert count_params(model, include_aux=True) == 112 + 4 * 2 + 2
    assert profile_model(model, (8, 8)).as_dict() == {
        "params": 112, "macs": 64 * 27 * 4, "output_shape": [1, 4, 8, 8]
    }
