"""The ONNX Runtime profiler times real exports for real (tiny blocks, few rounds)."""

from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort
import pytest
import torch.nn as nn

from latency.devices import get_device
from latency.ops import conv_spec
from latency.profilers import get_profiler
from latency.profilers.base import calibrated_median, summarize
from latency.profilers.noise import noise_floor
from latency.profilers.ort import OrtProfiler, provider_available
from nas.errors import UserError


def _cpu(**changes) -> OrtProfiler:
    # no quiet wait: the shared test machine is never quiet; the protocol is tested below
    dev = get_device("cpu").with_(quiet_wait=False, **changes)
    return get_profiler(dev, rounds=3, runs=2, warmup=1)


def test_measures_a_conv_block_and_records_versions() -> None:
    m = _cpu().measure(conv_spec(8, 16, 16, 16))
    assert 0 < m.p10_ms <= m.median_ms <= m.p90_ms < 100
    assert m.rounds == 3 and m.runs >= 6 and m.cv >= 0
    assert len(m.extra["round_medians_ms"]) == 3 and len(m.extra["calib_ms"]) == 3
    assert m.extra["median_ms_calibrated"] > 0
    assert m.versions["onnxruntime"] == ort.__version__
    assert m.versions["exporter"] == "torchscript" and int(m.versions["opset"]) >= 17
    assert m.versions["provider"] == "CPUExecutionProvider" and m.versions["threads"] == "1"


def test_bigger_block_is_slower() -> None:
    small, big = _cpu().measure_many([conv_spec(4, 4, 8, 8, k=1), conv_spec(64, 64, 32, 32)])
    assert big.median_ms > 3 * small.median_ms  # ~2000x the MACs


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_pins_to_one_core_and_restores_affinity() -> None:
    before = os.sched_getaffinity(0)
    m = _cpu(pin_core=True).measure(conv_spec(4, 4, 8, 8))
    assert m.extra["core"] in before
    assert os.sched_getaffinity(0) == before


def test_module_and_onnx_file(tmp_path) -> None:
    import torch

    from nas.export.onnx import export_onnx

    mod = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
    a = _cpu().measure(mod, [(1, 3, 16, 16)])
    path = tmp_path / "m.onnx"
    export_onnx(mod, [torch.randn(1, 3, 16, 16)], path)
    b = _cpu().measure(path)
    assert a.median_ms > 0 and b.median_ms > 0
    with pytest.raises(ValueError, match="input_shapes"):
        _cpu().measure(mod)
    with pytest.raises(UserError, match="model file not found"):
        _cpu().measure(tmp_path / "missing.onnx")


def test_quiet_wait_and_redo_are_recorded() -> None:
    # threshold 1.0 is always "quiet"; a 0 calibration tolerance marks every round after the
    # first noisy, so each is redone exactly max_redo times
    dev = get_device("cpu").with_(quiet_wait=True, quiet_threshold=1.0, calib_tol=0.0,
                                  max_redo=1)
    m = get_profiler(dev, rounds=3, runs=1, warmup=0).measure(conv_spec(4, 4, 8, 8))
    assert m.rounds == 3 and m.extra["redone_rounds"] == 2
    assert "quiet_wait_s" in m.extra


def test_tiny_blocks_get_more_runs_per_round() -> None:
    prof = _cpu(min_round_ms=1.0, max_runs=50)
    tiny, big = prof.measure_many([conv_spec(4, 4, 4, 4, k=1), conv_spec(64, 64, 64, 64)])
    assert tiny.runs > big.runs >= 6 and tiny.runs <= 3 * 50
    assert _cpu(min_round_ms=0).measure(conv_spec(4, 4, 4, 4, k=1)).runs == 6


def test_calibrated_median_cancels_a_slow_round() -> None:
    # round 2 ran everything 2x slower (calibration too): scaling removes it
    rounds = [[1.0, 1.0], [2.0, 2.0], [1.0, 1.0], [2.0, 2.0]]
    assert calibrated_median(rounds, [0.5, 1.0, 0.5, 1.0]) == pytest.approx(
        float(np.median([1.0 * 0.75 / 0.5, 2.0 * 0.75 / 1.0] * 2)))
    assert calibrated_median([[3.0]] * 3, [1.0, 1.0, 1.0]) == 3.0


def test_summarize_is_median_of_round_medians() -> None:
    m = summarize([[1.0, 9.0, 2.0], [3.0, 3.0, 3.0], [100.0, 4.0, 5.0]], "x", {}, {})
    assert m.median_ms == 3.0  # round medians 2, 3, 5
    assert m.runs == 9 and m.rounds == 3 and m.p90_ms > m.median_ms


def test_noise_floor_of_identical_passes_is_small_and_finite() -> None:
    nf = noise_floor(_cpu(), [conv_spec(8, 8, 16, 16), conv_spec(16, 16, 16, 16, k=1)])
    assert nf.items == 2 and nf.passes == 2 and nf.blocks_per_min > 0
    assert 0 <= nf.median_err < 1.0 and 0 <= nf.p90_err < 2.0
    assert "noise floor" in str(nf)


@pytest.mark.parametrize("name,provider", [("cuda", "cuda"), ("trt", "tensorrt")])
def test_gpu_providers(name: str, provider: str) -> None:
    if not provider_available(provider):
        with pytest.raises(UserError, match="lacks"):
            get_profiler(get_device(name))
        pytest.skip(f"no {provider} execution provider in this onnxruntime build (CPU-only host)")
    m = get_profiler(get_device(name), rounds=2, runs=2, warmup=1).measure(conv_spec(8, 8, 32, 32))
    assert m.median_ms > 0 and m.versions["provider"].lower().startswith(provider[:4])


def test_rounds_are_judged_against_the_callers_calibration_reference() -> None:
    """A batch that is self-consistent but far from the host's usual calibration is redone."""
    dev = get_device("cpu").with_(quiet_wait=True, quiet_threshold=1.0, calib_tol=10.0,
                                  max_redo=1)
    prof = get_profiler(dev, rounds=2, runs=1, warmup=0)
    m = prof.measure(conv_spec(4, 4, 8, 8))  # no reference: drift within the batch only
    assert m.extra["redone_rounds"] == 0 and "calib_reference_ms" not in m.extra
    prof.calib_reference = min(m.extra["calib_ms"]) / 1000  # a host 1000x faster than this one
    m = prof.measure(conv_spec(4, 4, 8, 8))
    assert m.extra["redone_rounds"] == 2  # every round drifted > 10x from the reference
    assert m.extra["calib_reference_ms"] == pytest.approx(prof.calib_reference, abs=1e-6)
    # a reference 1000x slower: this host is faster than the one that set it, which no noisy
    # neighbour causes, so no round is redone (measure.host_check reports another machine)
    prof.calib_reference = max(m.extra["calib_ms"]) * 1000
    assert prof.measure(conv_spec(4, 4, 8, 8)).extra["redone_rounds"] == 0
