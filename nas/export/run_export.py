"""Export a search run's subnet (ONNX, optionally TFLite), check it numerically, time it.

`nas export RUN` writes `RUN/export/model.onnx` (and `model.tflite`), compares the runtime's
output with PyTorch's on the same input (max abs diff <= 1e-4 x the output scale, see TOLERANCE,
else the export is reported as failed), and measures the file on the run's device with the
project's profiler, printing measured against predicted latency. The figures go into the run's
summary.json.

RUN is a gradient search (its derived subnet), a routing search (the common network) or an
Optuna FFNet study (the best trial's network, retrained if `nas retrain` ran); an Optuna `--tune`
run is refused with the path of its best trial, which is a gradient search.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from nas.errors import UserError

# Bound on max |runtime - PyTorch| per unit of output scale, max(1, max |PyTorch output|): float32
# rounding alone grows with the values (logits in the thousands, as a few training steps with
# unsettled BN statistics leave them, differ by ~1e-3), while a wrong export differs by O(scale).
TOLERANCE = 1e-4
FORMATS = ("onnx", "tflite")


@dataclass
class ExportResult:
    files: dict[str, str] = field(default_factory=dict)
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    measured_ms: float | None = None
    supernet_measured_ms: float | None = None
    measured_by: str = ""
    predicted_ms: float | None = None
    output_scale: float = 1.0

    @property
    def bound(self) -> float:
        """The largest max abs diff that passes: TOLERANCE x max(1, max |output|)."""
        return TOLERANCE * self.output_scale

    @property
    def ok(self) -> bool:
        return all(d <= self.bound for d in self.max_abs_diff.values())


def tflite_max_abs_diff(model: nn.Module, x: torch.Tensor, path: Path) -> float:
    """LiteRT interpreter output vs PyTorch on the same input (layouts as converted: NCHW)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x.numpy())
    interp.invoke()
    out = interp.get_tensor(interp.get_output_details()[0]["index"])
    with torch.no_grad():
        ref = model.eval()(x)
    return float(np.abs(out - ref.numpy()).max())


def load_subnet(folder: Path) -> tuple[nn.Module, dict[str, Any], str]:
    """The run's subnet with its best weights, the run config, and where the weights came from.

    An Optuna run's config gains the keys `export_run` reads (`target_device`, `num_classes`,
    `input_size`) from its summary.
    """
    import search_spaces
    from nas.runs import load_config
    from nas.search.optuna_retrain import check_weights, is_optuna_run, open_optuna_run
    from nas.search.retrain import open_search_run, subnet_weights

    saved = load_config(folder)
    if saved.get("driver") == "routing":  # its subnet is the common network
        from nas.search.routing import open_routing_run

        saved, arch = open_routing_run(folder)
        space_name = str(saved["space"])
    elif is_optuna_run(saved):  # an FFNet study: the best trial's network
        summary, arch = open_optuna_run(folder)
        check_weights(folder, summary)
        saved = {**saved, "target_device": summary["device"],
                 "num_classes": summary["num_classes"], "input_size": summary["input_size"]}
        space_name = str(summary["space"])
    else:
        saved, cfg, arch = open_search_run(folder)
        space_name = cfg.space
    model = search_spaces.get(space_name).build(arch, int(saved["num_classes"]))
    weights, source = subnet_weights(folder)
    model.load_state_dict(weights)
    return model.eval(), saved, source


def export_run(folder: Path, formats: list[str], *, device: str | None = None,
               measure: bool = True, with_supernet: bool = False,
               host_wait_s: float = 0.0) -> ExportResult:
    """Export, check and (optionally) measure; updates `folder/summary.json`.

    Args:
        with_supernet: also time the full supernet, interleaved with the subnet, so the two
            figures in the summary are comparable (the device's load drifts between runs).
        host_wait_s: wait up to this long for the host's quiet speed (nas/export/measure.py).
    """
    from nas.export.onnx import export_onnx, max_abs_diff_vs_torch
    from nas.io import atomic_write_json
    from nas.search.optuna_retrain import is_optuna_run

    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise UserError(f"--format {bad[0]}: expected one of {', '.join(FORMATS)}")
    model, saved, source = load_subnet(folder)
    if with_supernet and is_optuna_run(saved):
        raise UserError("--with-supernet: an Optuna FFNet run has no supernet to time; "
                        "export without the flag")
    hw = tuple(int(v) for v in saved["input_size"])
    device = device or saved["target_device"]
    x = torch.randn(1, 3, *hw, generator=torch.Generator().manual_seed(0))
    out_dir = folder / "export"
    res = ExportResult(output_scale=_output_scale(model, x))
    print(f"subnet of {folder}/ with weights {source}, input 1x3x{hw[0]}x{hw[1]}", flush=True)
    if "onnx" in formats:
        path = out_dir / "model.onnx"
        data = export_onnx(model, [x], path)
        res.files["onnx"] = str(path)
        res.max_abs_diff["onnx"] = max_abs_diff_vs_torch(model, [x], data)
    if "tflite" in formats:
        from latency.profilers.litert import convert_to_tflite

        path = convert_to_tflite(model, [tuple(x.shape)], out_dir / "model.tflite")
        res.files["tflite"] = str(path)
        res.max_abs_diff["tflite"] = tflite_max_abs_diff(model, x, path)
    for fmt, diff in res.max_abs_diff.items():
        verdict = "ok" if diff <= res.bound else "FAILED"
        runtime = "ORT" if fmt == "onnx" else "LiteRT"
        print(f"{fmt}: {res.files[fmt]}; {runtime} vs PyTorch max abs diff {diff:.2e} "
              f"(<= {res.bound:.3g}: {verdict})", flush=True)
    res.predicted_ms = _predicted(folder, saved, device)
    if measure:
        extra = [_full_network(saved)] if with_supernet else []
        times, res.measured_by = _measure(res.files, hw, device, extra, host_wait_s)
        if times is not None:
            res.measured_ms = times[0]
            res.supernet_measured_ms = times[1] if extra else None
        _print_latency(res, device, hw)
    _update_summary(folder, res, device, atomic_write_json)
    return res


def _output_scale(model: nn.Module, x: torch.Tensor) -> float:
    """max(1, max |PyTorch output|): the scale the runtime comparison's bound grows with."""
    with torch.no_grad():
        out = model.eval()(x)
    if isinstance(out, dict):
        out = out["out"]
    return max(1.0, float(out.abs().max()))


def _predicted(folder: Path, saved: dict[str, Any], device: str) -> float | None:
    """The run's predicted latency, or another device's predictor's figure for the arch."""
    if device == saved["target_device"]:
        summary = json.loads((folder / "summary.json").read_text())
        if saved.get("driver") == "routing":  # the exported net is the common one
            return summary.get("common", {}).get("predicted_ms")
        return summary.get("predicted_ms")
    import search_spaces
    from latency.predictors import load_for_device
    from nas.arch import load_arch
    from nas.paths import predictor_path
    from nas.search.latency_loss import predicted_ms

    if not predictor_path(device).is_file():
        return None
    arch = load_arch(folder / "arch.json")
    return predicted_ms(load_for_device(device), search_spaces.get(arch["space"]), arch,
                        tuple(saved["input_size"]), int(saved["num_classes"]))


def _full_network(saved: dict[str, Any]) -> nn.Module:
    """The supernet as a plain network (every channel, its default ops): the comparison point."""
    import search_spaces

    space = search_spaces.get(saved["space"])
    cfg = saved["config"]["supernet"]
    return space.build(space.supernet(int(saved["num_classes"]), **cfg).derive(),
                       int(saved["num_classes"]))


def _measure(files: dict[str, str], hw: tuple[int, ...], device: str,
             extra: list[nn.Module], host_wait_s: float = 0.0) -> tuple[list[float] | None, str]:
    """Time the exported file the device's backend runs (.onnx for ort, .tflite otherwise),
    interleaved with the `extra` networks; host_wait_s: see measure.timed's max_wait_s."""
    from latency.devices import get_device
    from nas.export.measure import measure_many_ms

    backend = get_device(device).backend
    want = "onnx" if backend == "ort" else "tflite"
    if want not in files:
        return None, f"not measured: device '{device}' runs .{want} files; add --format {want}"
    return measure_many_ms([files[want], *extra], (hw[0], hw[1]), device, max_wait_s=host_wait_s)


def _print_latency(res: ExportResult, device: str, hw: tuple[int, ...]) -> None:
    if res.measured_ms is None:
        print(res.measured_by, flush=True)
        return
    pred = res.predicted_ms
    rel = f" ({100 * (res.measured_ms / pred - 1):+.1f}% vs predicted)" if pred else ""
    pred_s = "n/a (no predictor)" if pred is None else f"{pred:.3f} ms"
    print(f"latency on '{device}' at {hw[0]}x{hw[1]}: measured {res.measured_ms:.3f} ms, "
          f"predicted {pred_s}{rel} [{res.measured_by}]", flush=True)
    if res.supernet_measured_ms is not None:
        print(f"supernet measured alongside: {res.supernet_measured_ms:.3f} ms", flush=True)


def _update_summary(folder: Path, res: ExportResult, device: str, write: Any) -> None:
    path = folder / "summary.json"
    summary = json.loads(path.read_text())
    summary["export"] = {"files": res.files, "max_abs_diff": res.max_abs_diff, "ok": res.ok,
                         "tolerance": TOLERANCE, "output_scale": res.output_scale,
                         "bound": res.bound, "device": device,
                         "measured_ms": res.measured_ms, "predicted_ms": res.predicted_ms,
                         "measured_by": res.measured_by}
    summary["export"]["supernet_measured_ms"] = res.supernet_measured_ms
    if summary.get("driver") == "routing":  # top-level figures are the dynamic network's
        if res.measured_ms is not None and device == summary.get("device"):
            summary.setdefault("common", {})["measured_ms"] = round(res.measured_ms, 4)
            summary["common"]["measured_by"] = f"nas export: {res.measured_by}"
    elif res.measured_ms is not None and device == summary.get("device"):
        summary["measured_ms"] = round(res.measured_ms, 4)
        summary["measured_by"] = f"nas export: {res.measured_by}"
        if res.supernet_measured_ms is not None:
            summary["supernet_measured_ms"] = round(res.supernet_measured_ms, 4)
    write(path, summary)
