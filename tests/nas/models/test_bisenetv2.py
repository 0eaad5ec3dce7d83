"""BiSeNetV2 specifics: branch widths, training-only heads, the zero-started GE layers."""

from __future__ import annotations

import pytest
import torch

from nas.models.bisenetv2 import BiSeNetV2, GatherExpand
from nas.models.counting import count_params


def test_aux_heads_are_training_only() -> None:
    with_aux = BiSeNetV2(5, width_mult=0.125)
    without = BiSeNetV2(5, width_mult=0.125, aux=False)
    assert count_params(with_aux) == count_params(without)
    assert count_params(with_aux, include_aux=True) > count_params(without, include_aux=True)
    without.train()
    assert isinstance(without(torch.randn(2, 3, 64, 64)), torch.Tensor)


def test_default_widths_are_the_paper_widths() -> None:
    with torch.device("meta"):
        model = BiSeNetV2(19)
    detail = [s[0].conv.out_channels for s in model.detail_branch.stages]
    assert detail == [64, 64, 128]
    assert [len(s) for s in model.detail_branch.stages] == [2, 3, 3]
    branch = model.semantic_branch
    assert branch.stem.fuse.conv.out_channels == 16
    assert [s[-1].project[0].out_channels for s in (branch.stage3, branch.stage4, branch.stage5)] == [
        32, 64, 128
    ]
    assert branch.stage3[0].expand[0].out_channels == 16 * 6  # expansion 6
    assert model.head.conv.conv.out_channels == 1024


def test_branches_must_end_equally_wide() -> None:
    with pytest.raises(ValueError, match="equally wide"):
        BiSeNetV2(5, detail_widths=(64, 64, 96))


def test_gather_expand_starts_as_its_shortcut() -> None:
    torch.manual_seed(0)
    layer = BiSeNetV2(5, width_mult=0.25).semantic_branch.stage3[1].eval()
    assert isinstance(layer, GatherExpand)
    x = torch.randn(1, layer.gather.conv.in_channels, 9, 9)
    assert torch.equal(layer(x), torch.relu(x))
