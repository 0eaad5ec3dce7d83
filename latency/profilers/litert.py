"""LiteRT (TFLite) on this host: convert with `litert-torch`, time with the `ai-edge-litert`
interpreter (XNNPACK delegate, the device's thread count).

The converter is also what produces the .tflite files pushed to phones (`adb.py`), so a block is
timed on the host and on the phone as the same flatbuffer. Both packages come with the `tflite`
extra (`pip install 'nas[tflite]'`, ~2 GB with jax); without them only this backend and the
conversion of modules for adb devices are unavailable.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from latency.ops import conv_spec
from latency.profilers import host
from latency.profilers.base import ProfileItem, Profiler, register_profiler, to_item
from nas.errors import UserError

INSTALL_HINT = "pip install 'nas[tflite]' (litert-torch and ai-edge-litert)"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


@contextlib.contextmanager
def _captured_fds() -> Iterator[Path]:
    """Send fd 1 and 2 (the converter's C++ logs) to a temp file for the body's duration.

    The converter prints pages of MLIR progress; it must not tear progress bars apart, but on
    failure its log is the only useful diagnostic, so the caller can read the file.
    """
    with tempfile.NamedTemporaryFile(prefix="litert-", suffix=".log", delete=False) as log:
        path = Path(log.name)
    saved = [os.dup(1), os.dup(2)]
    fd = os.open(path, os.O_WRONLY)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield path
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in (*saved, fd):
            os.close(f)


def convert_to_tflite(module: nn.Module, input_shapes: Sequence[Sequence[int]],
                      path: str | os.PathLike) -> Path:
    """Convert an eval-mode module to a .tflite flatbuffer at `path` (float32)."""
    try:
        import litert_torch
    except ImportError:
        raise UserError(f"converting to .tflite needs the LiteRT converter: {INSTALL_HINT}") \
            from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    args = tuple(torch.randn(tuple(s)) for s in input_shapes)
    with _captured_fds() as log:
        try:
            litert_torch.convert(module.eval(), args).export(str(path))
        except Exception as err:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"litert-torch could not convert {type(module).__name__}: "
                               f"{err}; log tail: {' | '.join(tail)}") from err
    log.unlink(missing_ok=True)
    return path


def converter_versions() -> dict[str, str]:
    return {"litert-torch": _version("litert-torch"), "torch": torch.__version__}


class LiteRTRunner:
    """One .tflite loaded in the LiteRT interpreter with fixed random inputs."""

    def __init__(self, path: Path, threads: int) -> None:
        from ai_edge_litert.interpreter import Interpreter

        # The default op resolver applies the XNNPACK delegate to every float op it supports.
        self.interp = Interpreter(model_path=str(path), num_threads=threads or None)
        self.interp.allocate_tensors()
        rng = np.random.default_rng(0)
        for d in self.interp.get_input_details():
            self.interp.set_tensor(d["index"], rng.standard_normal(d["shape"]).astype(d["dtype"]))

    def warm(self, n: int) -> None:
        for _ in range(n):
            self.interp.invoke()

    def time(self, n: int) -> list[float]:
        out = []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            self.interp.invoke()
            out.append((time.perf_counter_ns() - t0) / 1e6)
        return out

    def close(self) -> None:
        del self.interp


@register_profiler
class LiteRTProfiler(Profiler):
    """Times .tflite conversions of blocks/networks (or given .tflite files) on this host."""

    backend = "litert"
    runtime = "litert"

    def __init__(self, device, **kw) -> None:  # noqa: ANN001
        super().__init__(device, **kw)
        try:
            import ai_edge_litert.interpreter  # noqa: F401
        except ImportError:
            raise UserError(f"device '{device.name}' needs LiteRT: {INSTALL_HINT}") from None

    def prepare(self, item: ProfileItem, workdir: Path) -> LiteRTRunner:
        if item.path is not None:
            if item.path.suffix != ".tflite":
                raise UserError(f"{item.path}: the litert backend times .tflite files")
            return LiteRTRunner(item.path, self.device.threads)
        path = convert_to_tflite(item.module, item.input_shapes, workdir / "model.tflite")
        return LiteRTRunner(path, self.device.threads)

    def calibration_item(self) -> ProfileItem:
        return to_item(conv_spec(32, 32, 16, 16, k=3))

    def versions(self) -> dict[str, str]:
        return {
            "ai-edge-litert": _version("ai-edge-litert"),
            "delegate": "xnnpack",
            "threads": str(self.device.threads),
            **converter_versions(),
            "cpu": host.cpu_model(),
        }
