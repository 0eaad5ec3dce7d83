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


def _store_timed_elsewhere(tmp_path, monkeypatch, factor: float) -> None:
    """A `cpu` store whose one row was timed on a machine `factor` x slower than this one
    (a real measurement here, its calibration rounds scaled)."""
    from dataclasses import replace

    from latency.devices import get_device
    from latency.ops import conv_spec
    from latency.profilers.base import get_profiler
    from latency.store import Store
    from nas.paths import store_path

    monkeypatch.setenv("NAS_HOME", str(tmp_path))
    spec = conv_spec(4, 8, 8, 8, k=1)
    m = get_profiler(get_device("cpu"), rounds=2, runs=1, warmup=0).measure(spec)
    extra = {**m.extra, "calib_ms": [c * factor for c in m.extra["calib_ms"]]}
    assert Store(store_path()).add_block("cpu", spec, replace(m, extra=extra))


def test_a_store_from_a_slower_machine_is_named_before_and_after(tmp_path, monkeypatch,
                                                                 capsys) -> None:
    from nas.export import measure

    monkeypatch.setattr(measure, "_WARNED", set())
    _store_timed_elsewhere(tmp_path, monkeypatch, 5.0)
    warning = measure.host_check("cpu")
    assert warning is not None and "not the machine that measured the store" in warning
    assert "NAS_HOME=DIR nas profile --device cpu" in warning
    t = timed([_convs(4, 1)], (16, 16), "cpu", rounds=2, runs=1, passes=1)
    assert t.host_speed is not None and t.host_speed < 0.85 and t.warning is not None
    assert capsys.readouterr().err.count("warning: ") == 1  # once per process and device


def test_a_store_from_a_faster_machine_says_busy_or_slower(tmp_path, monkeypatch) -> None:
    from nas.export import measure

    monkeypatch.setattr(measure, "_WARNED", set())
    _store_timed_elsewhere(tmp_path, monkeypatch, 0.2)
    warning = measure.host_check("cpu")
    assert warning is not None and "busy" in warning and "slower machine" in warning


def test_host_check_without_a_store_or_off_host_is_silent(tmp_path, monkeypatch) -> None:
    from nas.export.measure import host_check

    monkeypatch.setenv("NAS_HOME", str(tmp_path))
    assert host_check("cpu") is None
    assert host_check("no-such-device") is None
