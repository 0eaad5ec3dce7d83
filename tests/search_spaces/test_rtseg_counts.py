"""Paper-size RTSeg networks match Table 1 (counted on the meta device, no compute)."""

from __future__ import annotations

import pytest

import search_spaces
from nas.models import create_model
from nas.models.counting import count_params, profile_model

PAPER_HW = (512, 1024)


def _rel(got: float, want: float) -> float:
    return abs(got - want) / want


def test_supernet_matches_table1_within_10_percent() -> None:
    space = search_spaces.get("rtseg")
    net = space.supernet(19)  # plain mode: all channels, LIR in every mixed block
    prof = profile_model(net, PAPER_HW)
    assert prof.output_shape == [1, 19, *PAPER_HW]
    # params: every learnable parameter outside aux_heads (LIR and MHSA paths, gates, logits)
    assert _rel(count_params(net), 24.43e6) < 0.10, count_params(net)
    assert _rel(prof.macs, 136.0e9) < 0.10, prof.macs


@pytest.mark.parametrize(
    "name, gmacs, mparams",
    [("rtseg-s", 5.7, 2.69), ("rtseg-m", 9.2, 3.56), ("rtseg-l", 20.8, 5.55)],
)
def test_presets_match_table1_within_15_percent(name: str, gmacs: float, mparams: float) -> None:
    prof = profile_model(create_model(name, num_classes=19), PAPER_HW)
    assert _rel(prof.macs, gmacs * 1e9) < 0.15, prof.macs
    assert _rel(prof.params, mparams * 1e6) < 0.15, prof.params


def test_supernet_model_is_the_plain_full_network() -> None:
    net = create_model("rtseg-supernet", num_classes=19)
    prof = profile_model(net, PAPER_HW)
    sup = profile_model(search_spaces.get("rtseg").supernet(19), PAPER_HW)
    assert prof.macs == sup.macs  # same computation as the supernet in plain mode
    assert prof.params < sup.params  # without the MHSA paths, gates and logits


def test_width_mult_scales_the_supernet() -> None:
    space = search_spaces.get("rtseg")
    half = profile_model(space.supernet(19, width_mult=0.5), PAPER_HW)
    full = profile_model(space.supernet(19), PAPER_HW)
    assert 0.15 < half.macs / full.macs < 0.4
