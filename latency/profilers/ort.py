"""ONNX Runtime profiler: CPU (one pinned thread or all cores), CUDA and TensorRT EPs.

Items are exported with the project's one ONNX exporter (`nas.export.onnx.export_onnx`,
TorchScript-based, opset 17) so a block is timed as the same graph `nas export` ships. Sessions
run sequentially with the device's intra-op thread count; GPU providers use IO binding so that
host<->device copies are not part of the timed region (on a phone the camera frame is already
on the accelerator too).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from latency.ops import conv_spec
from latency.profilers import host
from latency.profilers.base import ProfileItem, Profiler, register_profiler, to_item
from nas.errors import UserError

EXPORTER = "torchscript"  # nas.export.onnx uses torch.onnx.export(dynamo=False)
_PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


def provider_available(provider: str) -> bool:
    """Whether this onnxruntime build offers the execution provider (`cpu`, `cuda`, ...)."""
    import onnxruntime as ort

    return _PROVIDERS[provider] in ort.get_available_providers()


class OrtRunner:
    """One loaded ONNX model with fixed random inputs, timed with `perf_counter_ns`."""

    def __init__(self, path: Path, profiler: OrtProfiler, shapes: list[tuple[int, ...]]) -> None:
        import onnxruntime as ort

        dev = profiler.device
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = dev.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if dev.threads == 1:
            # One thread runs on the caller's thread: nothing to spin; spinning threads of
            # a bigger pool would steal the core from the next item between runs.
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers: list[Any] = [(_PROVIDERS[dev.provider], dict(dev.provider_options))]
        if dev.provider != "cpu":
            providers.append("CPUExecutionProvider")
        self.session = ort.InferenceSession(str(path), opts, providers=providers)
        inputs = self.session.get_inputs()
        if not shapes:  # a model file: take its static input shapes
            shapes = [tuple(d if isinstance(d, int) else 1 for d in i.shape) for i in inputs]
        rng = np.random.default_rng(0)
        self.feeds = {i.name: rng.standard_normal(s).astype(np.float32)
                      for i, s in zip(inputs, shapes, strict=True)}
        # IO binding everywhere: on the CPU it halves the Python overhead per run (~8 -> ~5 us,
        # which matters for blocks that take 10 us); on a GPU it keeps tensors on the device.
        on_gpu = dev.io_binding and dev.provider != "cpu"
        self.sync = dev.provider != "cpu"
        self.binding = self._bind(ort, "cuda" if on_gpu else "cpu",
                                  int(dev.provider_options.get("device_id", 0)))

    def _bind(self, ort: Any, where: str, device_id: int) -> Any:
        binding = self.session.io_binding()
        for name, arr in self.feeds.items():
            if where == "cpu":
                binding.bind_cpu_input(name, arr)
            else:
                binding.bind_ortvalue_input(
                    name, ort.OrtValue.ortvalue_from_numpy(arr, where, device_id))
        for out in self.session.get_outputs():
            binding.bind_output(out.name, where, device_id)
        return binding

    def _run(self) -> None:
        if self.sync:  # GPU: wait for copies/kernels so the timed region is complete
            self.binding.synchronize_inputs()
            self.session.run_with_iobinding(self.binding)
            self.binding.synchronize_outputs()
        else:
            self.session.run_with_iobinding(self.binding)

    def warm(self, n: int) -> None:
        for _ in range(n):
            self._run()

    def time(self, n: int) -> list[float]:
        out = []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            self._run()
            out.append((time.perf_counter_ns() - t0) / 1e6)
        return out

    def close(self) -> None:
        self.binding = None
        del self.session


@register_profiler
class OrtProfiler(Profiler):
    """Times ONNX exports of blocks/networks (or given .onnx files) with ONNX Runtime."""

    backend = "ort"
    runtime = "onnxruntime"

    def __init__(self, device: Any, **kw: Any) -> None:
        super().__init__(device, **kw)
        import onnxruntime as ort

        if not provider_available(device.provider):
            raise UserError(
                f"device '{device.name}' needs the ONNX Runtime {_PROVIDERS[device.provider]}, "
                f"which this onnxruntime {ort.__version__} build lacks (available: "
                f"{', '.join(ort.get_available_providers())}); install onnxruntime-gpu "
                f"on a machine with a GPU")

    def prepare(self, item: ProfileItem, workdir: Path) -> OrtRunner:
        if item.path is not None:
            if item.path.suffix != ".onnx":
                raise UserError(f"{item.path}: the ort backend times .onnx files")
            return OrtRunner(item.path, self, item.input_shapes)
        from nas.export.onnx import export_onnx

        workdir.mkdir(parents=True, exist_ok=True)
        path = workdir / "model.onnx"
        inputs = [torch.randn(s) for s in item.input_shapes]
        export_onnx(item.module, inputs, path)
        return OrtRunner(path, self, item.input_shapes)

    def calibration_item(self) -> ProfileItem:
        # ~1 MMAC: long enough to time stably, short enough to cost little per round.
        return to_item(conv_spec(32, 32, 16, 16, k=3))

    def versions(self) -> dict[str, str]:
        import onnxruntime as ort

        from nas.export.onnx import OPSET

        return {
            "onnxruntime": ort.__version__,
            "provider": _PROVIDERS[self.device.provider],
            "threads": str(self.device.threads),
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "exporter": EXPORTER,
            "opset": str(OPSET),
            "cpu": host.cpu_model(),
        }
