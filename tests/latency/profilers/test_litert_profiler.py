"""LiteRT on this host: real conversion with litert-torch, real timing with ai-edge-litert."""

from __future__ import annotations

import pytest

pytest.importorskip("litert_torch", reason="LiteRT converter not installed (pip install "
                                          "'nas[tflite]')")
pytest.importorskip("ai_edge_litert", reason="LiteRT runtime not installed")

from latency.devices import get_device  # noqa: E402
from latency.ops import conv_spec  # noqa: E402
from latency.profilers import get_profiler  # noqa: E402
from latency.profilers.litert import convert_to_tflite  # noqa: E402


def test_converts_and_times_a_conv_block(tmp_path) -> None:
    spec = conv_spec(8, 16, 16, 16)
    path = convert_to_tflite(spec.to_module(), spec.input_shapes(), tmp_path / "b.tflite")
    assert path.read_bytes()[4:8] == b"TFL3"  # flatbuffer file identifier
    prof = get_profiler(get_device("litert").with_(quiet_wait=False), rounds=2, runs=2,
                        warmup=1)
    a = prof.measure(spec)
    b = prof.measure(path)
    assert 0 < a.p10_ms <= a.median_ms <= a.p90_ms and b.median_ms > 0
    assert a.versions["delegate"] == "xnnpack" and a.versions["litert-torch"] != "not installed"
