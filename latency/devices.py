"""Latency devices: where a block or network is timed (DESIGN.md, "Device").

A device is a name plus a backend (`ort`, `litert`, `tflite-adb`) and that backend's options.
Built-ins live in `latency/devices.yaml`; `$NAS_HOME/devices.yaml` and `--devices FILE` add or
override entries (later files win), so a user describes a new phone without touching code.
Entries are validated into the frozen `Device` dataclass; a bad field raises a `UserError` that
names the file and the key, because a typo in a timing setup silently corrupts a whole dataset.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas.errors import UserError, unknown_name
from nas.io import read_yaml_mapping
from nas.paths import nas_home

BUILTIN_FILE = Path(__file__).with_name("devices.yaml")
BACKENDS = ("ort", "litert", "tflite-adb")
ORT_PROVIDERS = ("cpu", "cuda", "tensorrt")


@dataclass(frozen=True)
class Device:
    """One latency target.

    Args:
        name: registry name (`cpu`, `s21`, ...); the store keys measurements by it.
        backend: which profiler times it: `ort`, `litert` or `tflite-adb`.
        description: one line for humans (`nas profile --help`, reports).
        input_size: default `(H, W)` of the networks (and hence blocks) profiled on it.
        warmup: untimed runs per item before the first round (JIT, allocations, caches).
        rounds: rounds over all items; the result is the median of the round medians.
        runs: timed runs per item per round (at least; see `min_round_ms`).
        min_round_ms: host backends time a tiny item more often, until a round spends about
            this long on it (0 = always exactly `runs`).
        max_runs: upper bound of those runs per item per round.
        round_warmup: untimed runs per item at the start of each round, because interleaving
            items evicts the previous item's weights from the caches.
        threads: intra-op threads (0 = runtime default, usually one per core).
        pin_core: pin the timing process to one core (True = the least busy one, or a core id).
        quiet_wait: before a round wait until other processes leave the CPU mostly idle.
        quiet_threshold: fraction of the whole machine other processes may use and still count
            as quiet.
        quiet_max_wait_s: give up waiting after this long (a shared machine is never idle).
        max_redo: how often a noisy round is measured again before it is accepted as is.
        calib_tol: relative drift of the calibration block that marks a round noisy.
        provider: ONNX Runtime execution provider: `cpu`, `cuda` or `tensorrt`.
        provider_options: options passed to that execution provider.
        io_binding: keep inputs/outputs on the device (GPU EPs) so copies are not timed.
        serial: adb serial of the phone (None = the only attached one).
        use_gpu: TFLite GPU delegate (`benchmark_model --use_gpu=true`).
        cpu_mask: hex `taskset` mask on the phone ("" = no pinning).
        benchmark_path: where `benchmark_model` lives on the phone.
        remote_dir: where models are pushed on the phone.
        thermal_max_status: highest `dumpsys thermalservice` status that still counts as cool.
        thermal_max_wait_s: how long to wait for a throttled phone before failing.
        thermal_poll_s: seconds between thermal checks while waiting.
    """

    name: str
    backend: str
    description: str = ""
    input_size: tuple[int, int] = (256, 512)
    warmup: int = 3
    rounds: int = 10
    runs: int = 3
    min_round_ms: float = 2.0
    max_runs: int = 200
    round_warmup: int = 1
    threads: int = 1
    pin_core: bool | int = False
    quiet_wait: bool = True
    quiet_threshold: float = 0.25
    quiet_max_wait_s: float = 1.0
    max_redo: int = 2
    calib_tol: float = 0.15
    provider: str = "cpu"
    provider_options: dict[str, Any] = field(default_factory=dict)
    io_binding: bool = False
    serial: str | None = None
    use_gpu: bool = False
    cpu_mask: str = ""
    benchmark_path: str = "/data/local/tmp/benchmark_model"
    remote_dir: str = "/data/local/tmp"
    thermal_max_status: int = 0
    thermal_max_wait_s: float = 600.0
    thermal_poll_s: float = 10.0

    def with_(self, **changes: Any) -> Device:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["input_size"] = list(self.input_size)
        return d


# Expected YAML type of every field except `name` (which is the mapping key).
_TYPES: dict[str, tuple[type, ...]] = {
    "backend": (str,), "description": (str,), "input_size": (list,), "warmup": (int,),
    "rounds": (int,), "runs": (int,), "min_round_ms": (float, int), "max_runs": (int,),
    "round_warmup": (int,), "threads": (int,),
    "pin_core": (bool, int), "quiet_wait": (bool,), "quiet_threshold": (float, int),
    "quiet_max_wait_s": (float, int), "max_redo": (int,), "calib_tol": (float, int),
    "provider": (str,), "provider_options": (dict,), "io_binding": (bool,),
    "serial": (str, type(None)), "use_gpu": (bool,), "cpu_mask": (str,),
    "benchmark_path": (str,), "remote_dir": (str,), "thermal_max_status": (int,),
    "thermal_max_wait_s": (float, int), "thermal_poll_s": (float, int),
}
_POSITIVE = ("rounds", "runs", "max_runs")
_NON_NEGATIVE = ("min_round_ms", "warmup", "round_warmup", "threads", "max_redo", "quiet_max_wait_s",
                 "thermal_max_wait_s", "thermal_poll_s", "calib_tol", "thermal_max_status")


def _type_name(types: tuple[type, ...]) -> str:
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "a mapping", type(None): "null"}
    return " or ".join(names[t] for t in types)


def _validate_entry(src: str, name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Check one YAML entry field by field; return kwargs for `Device` (without `name`)."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"{src}: device '{name}' key '{key}'"
        if key not in _TYPES:
            raise unknown_name(f"key in {src} device '{name}'", str(key), _TYPES)
        types = _TYPES[key]
        # bool is an int in Python; only accept it where a boolean is meant.
        ok = isinstance(value, types) and not (
            isinstance(value, bool) and bool not in types
        )
        if not ok:
            raise UserError(f"{where}: expected {_type_name(types)}, got {value!r}")
        out[key] = value
    if "input_size" in out:
        size = out["input_size"]
        if len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                     for v in size):
            raise UserError(f"{src}: device '{name}' key 'input_size': expected [H, W] of "
                            f"positive integers, got {size!r}")
        out["input_size"] = (size[0], size[1])
    for key in _POSITIVE:
        if key in out and out[key] < 1:
            raise UserError(f"{src}: device '{name}' key '{key}': expected >= 1, got {out[key]}")
    for key in _NON_NEGATIVE:
        if key in out and out[key] < 0:
            raise UserError(f"{src}: device '{name}' key '{key}': expected >= 0, got {out[key]}")
    if "quiet_threshold" in out and not 0 < out["quiet_threshold"] <= 1:
        raise UserError(f"{src}: device '{name}' key 'quiet_threshold': expected a fraction in "
                        f"(0, 1], got {out['quiet_threshold']}")
    if "backend" in out and out["backend"] not in BACKENDS:
        raise UserError(f"{src}: device '{name}' key 'backend': expected one of "
                        f"{', '.join(BACKENDS)}, got {out['backend']!r}")
    if "provider" in out and out["provider"] not in ORT_PROVIDERS:
        raise UserError(f"{src}: device '{name}' key 'provider': expected one of "
                        f"{', '.join(ORT_PROVIDERS)}, got {out['provider']!r}")
    if "cpu_mask" in out and out["cpu_mask"]:
        try:
            int(out["cpu_mask"], 16)
        except ValueError:
            raise UserError(f"{src}: device '{name}' key 'cpu_mask': expected a hex taskset "
                            f"mask like 'f0', got {out['cpu_mask']!r}") from None
    return out


def _read_file(path: Path) -> dict[str, Any]:
    data = read_yaml_mapping(path, "devices file", "a mapping of device name -> settings")
    for name, entry in data.items():
        if not isinstance(entry, dict):
            raise UserError(f"{path}: device '{name}': expected a mapping of settings, "
                            f"got {entry!r}")
    return data


def load_devices(extra_files: Iterable[str | os.PathLike] = ()) -> dict[str, Device]:
    """All devices: built-ins, then `$NAS_HOME/devices.yaml`, then `extra_files` in order.

    An entry with `extends: OTHER` starts from OTHER's settings (defined earlier or in the same
    file); an entry reusing a known name without `extends` replaces it.
    """
    files = [BUILTIN_FILE]
    user = nas_home() / "devices.yaml"
    if user.is_file():
        files.append(user)
    files += [Path(f) for f in extra_files]
    settings: dict[str, dict[str, Any]] = {}
    for path in files:
        entries = _read_file(path)
        pending = dict(entries)
        while pending:  # resolve `extends` inside one file in dependency order
            progressed = False
            for name, raw in list(pending.items()):
                raw = dict(raw)
                base = raw.pop("extends", None)
                if base is not None and base in pending and base != name:
                    continue
                if base is not None and base not in settings:
                    raise unknown_name(f"device to extend in {path} device '{name}'", str(base),
                                       settings)
                merged = dict(settings[base]) if base is not None else {}
                merged.update(_validate_entry(str(path), str(name), raw))
                if "backend" not in merged:
                    raise UserError(f"{path}: device '{name}': missing key 'backend' "
                                    f"(one of {', '.join(BACKENDS)})")
                settings[str(name)] = merged
                del pending[name]
                progressed = True
            if not progressed:
                raise UserError(f"{path}: devices {sorted(pending)} extend each other in a cycle")
    return {name: Device(name=name, **kw) for name, kw in settings.items()}


def get_device(name: str, extra_files: Iterable[str | os.PathLike] = ()) -> Device:
    """The device called `name`, or a `UserError` listing the known ones."""
    devices = load_devices(extra_files)
    if name not in devices:
        raise unknown_name("device", name, devices)
    return devices[name]


def parse_input_size(text: str) -> tuple[int, int]:
    """`"512x1024"` -> `(512, 1024)`, for the `--input-size HxW` options."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        h, w = (int(p) for p in parts)
    except ValueError:
        raise UserError(f"--input-size: expected HxW like 512x1024, got {text!r}") from None
    if h <= 0 or w <= 0:
        raise UserError(f"--input-size: expected positive sizes, got {text!r}")
    return h, w
