"""The host-speed gate: a batch timed while the calibration block ran slower than the host's
quiet reference is measured again after a wait (real ONNX Runtime; only the clock is the
test's, so it does not sleep for real)."""

from __future__ import annotations

import statistics

import torch.nn as nn

from latency.devices import get_device
from latency.profilers.base import get_profiler
from latency.profilers.host_speed import SpeedGate, host_speed, other_machine_warning
from tests.latency.conftest import TEST_DEVICES


def _profiler(tmp_path):
    path = tmp_path / "devices.yaml"
    path.write_text(TEST_DEVICES)
    return get_profiler(get_device("cpu-test", [str(path)]), rounds=2, runs=1, warmup=0)


ITEMS = [(nn.Conv2d(4, 4, 3, padding=1), [(1, 4, 8, 8)])]


def test_a_slow_host_is_measured_again_until_the_wait_is_spent(tmp_path) -> None:
    profiler = _profiler(tmp_path)
    calib = statistics.median(profiler.measure_many(ITEMS)[0].extra["calib_ms"])
    slept, said = [], []
    # a reference far below what this host times: every attempt looks ~4x slow
    gate = SpeedGate(calib / 4, max_wait_s=70, step_s=30, say=said.append, sleep=slept.append)
    ms = gate.measure(profiler, ITEMS)
    assert slept == [30, 30, 10]  # the last step only fills the budget
    assert len(said) == 3 and "of its quiet speed: measuring these 1 items again" in said[0]
    assert gate.waited_s == 70 and gate.slow_batches == 1
    assert ms[0].extra["host_wait_s"] == 70 and ms[0].extra["host_speed"] > 1.05
    assert ms[0].median_ms > 0


def test_a_quiet_host_is_measured_once(tmp_path) -> None:
    profiler = _profiler(tmp_path)
    slept, said = [], []
    gate = SpeedGate(1e6, max_wait_s=600, sleep=slept.append, say=said.append,
                     device="cpu-test")  # a huge reference: always fast
    ms = gate.measure(profiler, ITEMS)
    assert slept == [] and gate.waited_s == 0 and gate.slow_batches == 0
    assert "host_wait_s" not in ms[0].extra and ms[0].extra["host_speed"] < 1.0
    # far faster than the stored reference: another machine timed the store, said once
    gate.measure(profiler, ITEMS)
    assert len(said) == 1 and said[0].startswith("warning: ") and "'cpu-test'" in said[0]
    assert "not the machine that measured the store" in said[0]


def test_no_reference_or_no_budget_means_no_waiting(tmp_path) -> None:
    profiler = _profiler(tmp_path)
    slept = []
    ms = SpeedGate(None, max_wait_s=600, sleep=slept.append).measure(profiler, ITEMS)
    assert slept == [] and "host_speed" not in ms[0].extra
    gate = SpeedGate(1e-9, max_wait_s=0, sleep=slept.append)
    gate.measure(profiler, ITEMS)
    assert slept == [] and gate.slow_batches == 1  # stored slow, and counted


def test_host_speed_reads_the_batch_calibration() -> None:
    class M:
        extra = {"calib_ms": [2.0, 3.0, 4.0]}

    assert host_speed([M()], 2.0) == 1.5
    assert host_speed([M()], None) is None and host_speed([], 2.0) is None


def test_other_machine_warning_names_the_direction() -> None:
    assert other_machine_warning(None, "cpu") is None
    assert other_machine_warning(1.0, "cpu") is None and other_machine_warning(1.14, "cpu") is None
    fast = other_machine_warning(0.63, "cpu")
    assert fast is not None and "x0.63" in fast and "not the machine" in fast
    slow = other_machine_warning(1.4, "cpu")
    assert slow is not None and "busy" in slow and "--host-wait" in slow
