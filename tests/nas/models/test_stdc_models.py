"""STDC specifics: module widths, paper eq. 3, the stride-2 module, STDC-Seg's training heads."""

from __future__ import annotations

import pytest
import torch

from nas.models.stdc import STDCModule, STDCSeg, stdc_widths


def test_module_widths_halve_and_sum_to_the_output() -> None:
    assert stdc_widths(256, 4) == [128, 64, 32, 32]
    assert stdc_widths(64, 2) == [32, 32]
    assert sum(stdc_widths(1024, 5)) == 1024
    with pytest.raises(ValueError, match="divisible"):
        stdc_widths(100, 4)


@pytest.mark.parametrize("m, n, steps", [(256, 256, 4), (64, 512, 4), (128, 128, 3)])
def test_conv_params_follow_paper_eq3(m: int, n: int, steps: int) -> None:
    module = STDCModule(m, n, stride=1, steps=steps)
    conv_params = sum(c.conv.weight.numel() for c in module.convs)
    # STDC paper eq. 3: NM/2 + 3N^2/2 * (1 + 1/2^(2n-3))
    assert conv_params == n * m // 2 + 3 * n * n // 2 * (1 + 1 / 2 ** (2 * steps - 3))


def test_stride2_module_halves_resolution_with_ceil() -> None:
    module = STDCModule(16, 64, stride=2).eval()
    out = module(torch.randn(1, 16, 15, 20))
    assert out.shape == (1, 64, 8, 10)


def test_seg_train_output_has_detail_map_at_one_eighth() -> None:
    torch.manual_seed(0)
    model = STDCSeg((2, 2, 2), 5, width_mult=0.125).train()
    out = model(torch.randn(2, 3, 70, 90))
    assert out["detail"].shape == (2, 1, 9, 12)
    assert len(out["aux"]) == 2
    assert set(model.aux_heads.keys()) == {"context8", "context16", "detail"}
