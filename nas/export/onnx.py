"""ONNX export shared by `nas export`, the contract tests and the ORT profiler.

We use the TorchScript-based exporter (`dynamo=False`): on torch 2.13 it is several times faster
than the dynamo exporter for the small blocks we profile by the thousand, and it produces the
same graph for our conv/attention networks.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

OPSET = 17


def export_onnx(
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    path: str | Path | None = None,
    *,
    opset: int = OPSET,
) -> bytes:
    """Export `model` (eval mode) for the given example inputs; return the ONNX bytes.

    Writes the file too when `path` is given (atomically).
    """
    model = model.eval()
    buf = io.BytesIO()
    names = [f"input{i}" for i in range(len(inputs))] if len(inputs) > 1 else ["input"]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, tuple(inputs), buf, opset_version=opset, dynamo=False,
            input_names=names, output_names=["output"], do_constant_folding=True,
        )
    data = buf.getvalue()
    if path is not None:
        from nas.io import atomic_write_bytes

        atomic_write_bytes(path, data)
    return data


def ort_session(onnx_bytes: bytes | str | Path, threads: int = 1):  # -> ort.InferenceSession
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    src = str(onnx_bytes) if isinstance(onnx_bytes, (str, Path)) else onnx_bytes
    return ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])


def max_abs_diff_vs_torch(model: nn.Module, inputs: Sequence[torch.Tensor], onnx_bytes: bytes) -> float:
    """Run PyTorch and ONNX Runtime on the same inputs; the largest absolute output difference."""
    sess = ort_session(onnx_bytes)
    feeds = {i.name: t.numpy() for i, t in zip(sess.get_inputs(), inputs, strict=True)}
    ort_out = sess.run(None, feeds)[0]
    with torch.no_grad():
        ref = model.eval()(*inputs)
    if isinstance(ref, dict):
        ref = ref["out"]
    return float(np.abs(ort_out - ref.numpy()).max())
