"""Contenders of a searched arch: uniform slimming, latency-matched random archs, retraining."""

from __future__ import annotations

import random

import pytest
import torch

import search_spaces
from nas.errors import UserError
from nas.search import contenders as ct
from search_spaces.rtseg import full_arch
from search_spaces.rtseg.config import channel_groups, resolve

HW = (64, 128)  # the deployment size the conftest predictor was fitted at
TINY = {"preset": "tiny"}


def _kept(arch: dict) -> int:
    """Total kept channels: a latency stand-in that grows strictly with the fraction."""
    return sum(len(v) if isinstance(v, list) else v for v in arch["channels"].values())


@pytest.fixture
def predict(nas_env):
    from latency.predictors import load_for_device
    from nas.search.latency_loss import predicted_ms

    pred, space = load_for_device("cpu"), search_spaces.get("rtseg")
    return lambda a: predicted_ms(pred, space, a, HW, 19)


def test_uniform_arch_keeps_one_fraction_everywhere_with_plain_ops() -> None:
    space = search_spaces.get("rtseg")
    arch = space.validate(ct.uniform_arch(TINY, 0.5))
    _, cfg = resolve(TINY)
    for g, n in channel_groups(cfg).items():
        assert arch["channels"][g] == list(range(max(1, round(n / 2)))), g
    assert {op for seq in arch["ops"].values() for op in seq} == {"lir"}
    assert space.validate(ct.uniform_arch(TINY, 1.0)) == space.validate(full_arch(**TINY))
    with pytest.raises(UserError, match="fraction"):
        ct.uniform_arch(TINY, 0.0)


def test_match_uniform_bisects_to_the_closest_fraction() -> None:
    full = _kept(ct.uniform_arch(TINY, 1.0))
    for want in (0.3, 0.6, 0.9):
        target = want * full
        arch, x, got = ct.match_uniform(lambda a: float(_kept(a)), TINY, target)
        assert got == _kept(arch)
        # no fraction on a fine grid lands closer to the target than the one returned
        grid = [_kept(ct.uniform_arch(TINY, f / 200)) for f in range(10, 201)]
        assert abs(got - target) <= min(abs(k - target) for k in grid) + 1e-9
        assert 0.05 <= x <= 1.0


def test_match_uniform_clamps_to_the_ends() -> None:
    arch, x, _ = ct.match_uniform(lambda a: float(_kept(a)), TINY, 1e9)
    assert x == 1.0
    _, x, _ = ct.match_uniform(lambda a: float(_kept(a)), TINY, 0.0)
    assert x == 0.05


def test_sample_matching_keeps_only_archs_at_the_target(predict) -> None:
    space = search_spaces.get("rtseg")
    target = predict(space.sample(random.Random(7), **TINY))
    found = ct.sample_matching(space, predict, TINY, target, 3, tol=0.03)
    assert len(found) == 3
    for arch, ms in found:
        assert abs(ms / target - 1) <= 0.03
        assert ms == pytest.approx(predict(arch))
    assert len({str(a["channels"]) for a, _ in found}) == 3
    # an unreachable target: nothing, after max_tries samples, without an exception
    assert ct.sample_matching(space, predict, TINY, target * 1e-3, 3, max_tries=20) == []


def test_arch_summary_names_ops_and_width() -> None:
    assert ct.arch_summary(full_arch(**TINY)) == "3:L 4:L 5:LL w1.00"
    arch = search_spaces.get("rtseg").validate(ct.uniform_arch(TINY, 0.5))
    arch["ops"]["seg5"] = ["skip", "mhsa"]
    assert ct.arch_summary(arch) == "3:L 4:L 5:SM w0.50"


def test_retrain_subnet_reuses_a_finished_folder_and_redoes_another_arch(nas_env,
                                                                         synth_dir) -> None:
    from nas.search.config import get_preset
    from nas.search.stages import stage_data

    space = search_spaces.get("rtseg")
    torch.manual_seed(0)
    supernet = space.supernet(19, **TINY)
    cfg = get_preset("tiny").retrain.replace(iterations=2)
    data = stage_data(str(synth_dir), cfg)
    folder = nas_env / "c"
    arch = space.validate(ct.uniform_arch(TINY, 0.5))

    net = ct.inherit_subnet(space, arch, supernet, 19)
    first = ct.retrain_subnet(net, arch, cfg, data, folder, space="rtseg", teacher=supernet)
    assert first["iterations"] == 2 and 0.0 <= first["miou"] <= 1.0
    trained = {k: v.clone() for k, v in net.state_dict().items()}

    again = ct.inherit_subnet(space, arch, supernet, 19)  # fresh inherited weights...
    second = ct.retrain_subnet(again, arch, cfg, data, folder, space="rtseg", teacher=supernet)
    # ...replaced by the finished folder's, not trained again (same summary, same weights)
    assert (second["miou"], second["time_s"]) == (first["miou"], first["time_s"])
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in trained.items())

    other = space.validate(ct.uniform_arch(TINY, 0.75))
    net3 = ct.inherit_subnet(space, other, supernet, 19)
    third = ct.retrain_subnet(net3, other, cfg, data, folder, space="rtseg", teacher=supernet)
    assert third["arch"]["channels"] == other["channels"] and third["iterations"] == 2


def test_uniform_ladder_is_distinct_rungs_around_the_predicted_match(predict) -> None:
    target = predict(ct.uniform_arch(TINY, 0.5))
    _, x0, _ = ct.match_uniform(predict, TINY, target)
    ladder = ct.uniform_ladder(predict, TINY, target, spread=0.3, n=7)
    keys = [str(sorted(a["channels"].items())) for a, _, _ in ladder]
    assert len(set(keys)) == len(keys) >= 2
    fracs = [x for _, x, _ in ladder]
    assert fracs == sorted(fracs) and fracs[0] < x0 < fracs[-1]
    assert all(ms == predict(a) for a, _, ms in ladder)


def test_measured_picks_keep_sample_order_and_relative_tolerance() -> None:
    measured = [10.0, 9.2, 10.4, 12.0, 9.6, 10.1]
    assert ct.closest_measured(measured, 10.05) == 5
    # within +-5% of 10: 10.0, 10.4, 9.6, 10.1 -> the first two in order, not the closest two
    assert ct.within_measured(measured, 10.0, 0.05, 2) == [0, 2]
    assert ct.within_measured(measured, 10.0, 0.05, 9) == [0, 2, 4, 5]
    assert ct.within_measured(measured, 20.0, 0.05, 3) == []
    with pytest.raises(ValueError):
        ct.closest_measured([], 1.0)
