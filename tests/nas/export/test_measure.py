"""`measure_many_ms`: real ONNX Runtime timings over several passes, fastest pass reported."""

from __future__ import annotations

import pytest
import torch.nn as nn

from nas.export.measure import measure_many_ms, measure_ms, timed


def _convs(width: int, depth: int) -> nn.Module:
    layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1)]
    for _ in range(depth - 1):
        layers += [nn.ReLU(), nn.Conv2d(width, width, 3, padding=1)]
    return nn.Sequential(*layers).eval()


def test_passes_time_every_network_and_keep_their_order() -> None:
    small, big = _convs(4, 1), _convs(32, 6)  # ~200x the MACs: no host noise swaps them
    times, how = measure_many_ms([small, big], (32, 32), "cpu", rounds=2, runs=2, passes=2)
    assert times is not None and len(times) == 2
    assert 0 < times[0] < times[1]
    assert "fastest of 2 passes" in how and "onnxruntime" in how


def test_one_pass_says_nothing_about_passes() -> None:
    ms, how = measure_ms(_convs(4, 1), (16, 16), "cpu", rounds=1, runs=1, passes=1)
    assert ms is not None and ms > 0
    assert "passes" not in how


def test_zero_passes_is_refused() -> None:
    with pytest.raises(ValueError, match="passes must be >= 1"):
        measure_many_ms([_convs(4, 1)], (16, 16), "cpu", passes=0)


def test_unknown_device_is_reported_not_raised() -> None:
    times, how = measure_many_ms([_convs(4, 1)], (16, 16), "no-such-device")
    assert times is None and how.startswith("not measured")


def test_without_a_store_reference_it_never_waits(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NAS_HOME", str(tmp_path))  # an empty home: no quiet reference to meet
    t = timed([_convs(4, 1)], (16, 16), "cpu", rounds=1, runs=1, passes=1, max_wait_s=600)
    assert t.times is not None and t.passes == 1 and t.waited_s == 0.0
    assert t.host_speed is None and "calibration" not in t.how
