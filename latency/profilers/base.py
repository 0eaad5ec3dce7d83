"""The profiler interface and the measurement protocol every backend shares.

A backend only knows how to turn one item (a `BlockSpec`, an `nn.Module` or a model file) into
a `Runner` that times n runs. This module owns the protocol, because that is where accuracy is
won or lost on a shared machine:

1. warm every item up once;
2. interleave items over `rounds`: in each round every item gets `round_warmup` untimed runs and
   `runs` timed runs (more for tiny items, so each round spends about `min_round_ms` on each),
   in an order rotated per round, so slow drifts of the machine (frequency, other users) spread
   over all items instead of biasing whichever came first;
3. before a round wait until the machine is quiet, and measure a round again (up to `max_redo`
   times) when other processes were busy during it or a fixed calibration block ran slower
   than `calib_reference` when the caller knows it (a campaign takes the quiet calibration of
   the device's stored rows on this host), else drifted either way from the batch's own rounds
   so far: against its own rounds a batch timed entirely while the host was slow looks quiet,
   and on the 2-core `cpu` host about a fifth of the rows were ~30% slow that way;
4. report the median of the round medians (robust to a bad round) plus p10/p90/CV of all runs.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import torch.nn as nn

from latency.blocks import BlockSpec
from latency.devices import Device
from latency.profilers import host
from nas.errors import UserError, unknown_name


@dataclass
class Measurement:
    """The latency of one item on one device.

    Args:
        median_ms: median of the per-round medians (predictors learn the fastest round median,
            latency/statistic.py says why; both come from `extra.round_medians_ms`).
        p10_ms, p90_ms: 10th/90th percentile over every timed run (spread of one inference).
        cv: coefficient of variation (std / mean) over every timed run.
        runs: timed runs in total. rounds: accepted rounds.
        runtime: which runtime timed it (`onnxruntime`, `litert`, `tflite-benchmark_model`).
        versions: runtime, exporter and hardware versions: a number is only comparable with
            numbers taken on the same stack.
        extra: diagnostics (round medians, redone rounds, calibration, quiet waits, ...).
    """

    median_ms: float
    p10_ms: float
    p90_ms: float
    cv: float
    runs: int
    rounds: int
    runtime: str
    versions: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ProfileItem:
    """One thing to time, normalised: a module with its input shapes, or a model file."""

    label: str
    input_shapes: list[tuple[int, ...]]
    module: nn.Module | None = None
    path: Path | None = None


Measurable = BlockSpec | nn.Module | str | os.PathLike


def to_item(obj: Measurable, input_shapes: Sequence[Sequence[int]] | None = None) -> ProfileItem:
    """Normalise what callers pass to `measure` (a spec builds itself and knows its shapes)."""
    shapes = [tuple(int(v) for v in s) for s in input_shapes] if input_shapes else None
    if isinstance(obj, BlockSpec):
        return ProfileItem(
            f"{obj.op_key} {obj.cin}->{obj.cout} {obj.h}x{obj.w} k{obj.k}s{obj.stride}", shapes or obj.input_shapes(),
                           module=obj.to_module())
    if isinstance(obj, nn.Module):
        if not shapes:
            raise ValueError("measuring an nn.Module needs its input_shapes")
        return ProfileItem(type(obj).__name__, shapes, module=obj.eval())
    if isinstance(obj, (str, os.PathLike)):
        path = Path(obj)
        if not path.is_file():
            raise UserError(f"{path}: model file not found")
        return ProfileItem(path.name, shapes or [], path=path)
    raise TypeError(f"cannot measure a {type(obj).__name__}")


class Runner(Protocol):
    """One prepared item: `warm(n)` runs untimed, `time(n)` returns per-run milliseconds.

    A runner may also carry an `extra` dict, merged into its measurement's `extra`.
    """

    def warm(self, n: int) -> None: ...

    def time(self, n: int) -> list[float]: ...

    def close(self) -> None: ...


def summarize(round_samples: list[list[float]], runtime: str, versions: dict[str, str],
              extra: dict[str, Any]) -> Measurement:
    """Statistics of one item from its timed runs, grouped by round."""
    flat = np.array([v for r in round_samples for v in r], dtype=float)
    medians = [float(np.median(r)) for r in round_samples]
    mean = float(flat.mean())
    return Measurement(
        median_ms=float(np.median(medians)),
        p10_ms=float(np.percentile(flat, 10)),
        p90_ms=float(np.percentile(flat, 90)),
        cv=float(flat.std() / mean) if mean > 0 else 0.0,
        runs=int(flat.size),
        rounds=len(round_samples),
        runtime=runtime,
        versions=dict(versions),
        extra={"round_medians_ms": [round(m, 6) for m in medians], **extra},
    )


def calibrated_median(round_samples: list[list[float]], calib_medians: list[float]) -> float:
    """Median over rounds of the round median scaled by how fast the calibration block ran in
    that round relative to all rounds: cancels slow drifts of the machine's speed. Kept as a
    diagnostic next to the plain median until noise-floor runs show which reproduces better."""
    ref = float(np.median(calib_medians))
    scaled = [float(np.median(r)) * ref / c for r, c in zip(round_samples, calib_medians,
                                                            strict=True) if c > 0]
    return round(float(np.median(scaled)), 6) if scaled else float("nan")


class Profiler(ABC):
    """Times items on one device. Sub-classes set `backend`/`runtime` and implement `prepare`.

    Args:
        device: the device to time on.
        rounds, runs, warmup: override the device's protocol (tests use tiny values).
    """

    backend: ClassVar[str]
    runtime: ClassVar[str]
    # Whether timing runs on this host's CPU, so that other processes here disturb it.
    times_on_host: ClassVar[bool] = True

    def __init__(self, device: Device, *, rounds: int | None = None, runs: int | None = None,
                 warmup: int | None = None) -> None:
        self.device = device
        self.rounds = rounds if rounds is not None else device.rounds
        self.runs = runs if runs is not None else device.runs
        self.warmup = warmup if warmup is not None else device.warmup
        if self.rounds < 1 or self.runs < 1 or self.warmup < 0:
            raise UserError("rounds and runs must be >= 1 and warmup >= 0")
        # calibration-block ms of the host in its usual state (see the module docstring)
        self.calib_reference: float | None = None

    # ------------------------------------------------------------------ backend hooks
    @abstractmethod
    def prepare(self, item: ProfileItem, workdir: Path) -> Runner:
        """Export/convert the item into the backend's format and load it, ready to run."""

    @abstractmethod
    def versions(self) -> dict[str, str]:
        """Versions of everything that influences the timing (runtime, exporter, chip)."""

    def calibration_item(self) -> ProfileItem | None:
        """A fixed block timed in every round to detect a machine that changed speed."""
        return None

    def before_round(self) -> dict[str, float]:
        """Wait for good conditions before a round; returns diagnostics to accumulate."""
        if not self.device.quiet_wait:
            return {}
        waited, busy = host.wait_quiet(self.device.quiet_threshold, self.device.quiet_max_wait_s)
        # Redoing a noisy round only helps when the noise was a passing burst; when the
        # machine never got quiet, a redo would just be as noisy and cost another wait.
        self._found_quiet = busy < self.device.quiet_threshold
        return {"quiet_wait_s": waited}

    def pin_core(self) -> int | None:
        """The core to pin to for this batch (None = do not pin)."""
        pin = self.device.pin_core
        if pin is False or not hasattr(os, "sched_setaffinity"):
            return None
        if pin is True:
            return host.least_busy_core()
        return int(pin)

    # ------------------------------------------------------------------ public API
    def measure(self, obj: Measurable,
                input_shapes: Sequence[Sequence[int]] | None = None) -> Measurement:
        """Time one block, module or model file."""
        return self.measure_many([(obj, input_shapes)])[0]

    def measure_many(self, items: Sequence[Measurable | tuple[Measurable, Any]]
                     ) -> list[Measurement]:
        """Time several items interleaved over rounds (see the module docstring)."""
        norm = [to_item(*it) if isinstance(it, tuple) else to_item(it) for it in items]
        if not norm:
            return []
        with tempfile.TemporaryDirectory(prefix="nas-profile-") as tmp, \
                host.pinned(self.pin_core()) as core:
            runners = [self.prepare(it, Path(tmp) / f"item{i}") for i, it in enumerate(norm)]
            calib_item = self.calibration_item()
            calib = self.prepare(calib_item, Path(tmp) / "calib") if calib_item else None
            try:
                return self._rounds(runners, calib, core)
            finally:
                for r in runners + ([calib] if calib else []):
                    r.close()

    # ------------------------------------------------------------------ protocol
    def _runs_for(self, runner: Runner) -> int:
        """Timed runs per round for one item: at least `runs`, more for tiny items so each
        round spends about `min_round_ms` on it (a 10 us block timed 3 times is mostly
        jitter; timed 200 times it costs 2 ms)."""
        target = self.device.min_round_ms
        if not self.times_on_host or target <= 0:
            return self.runs
        probe = statistics.median(runner.time(3))
        return int(min(self.device.max_runs, max(self.runs, math.ceil(target / max(probe,
                                                                                  1e-6)))))

    def _rounds(self, runners: list[Runner], calib: Runner | None,
                core: int | None) -> list[Measurement]:
        dev = self.device
        for r in runners + ([calib] if calib else []):
            r.warm(self.warmup)
        runs = [self._runs_for(r) for r in runners]
        cal_runs = self._runs_for(calib) if calib else 0
        samples: list[list[list[float]]] = [[] for _ in runners]
        calib_medians: list[float] = []
        waits = {"quiet_wait_s": 0.0}
        redone, busy_seen = 0, []
        n = len(runners)
        for rnd in range(self.rounds):
            for attempt in range(dev.max_redo + 1):
                self._found_quiet = True
                for k, v in self.before_round().items():
                    waits[k] = waits.get(k, 0.0) + v
                snap = host.snapshot()
                this_round: list[list[float]] = [[] for _ in runners]
                cal: list[float] = []
                if calib:
                    cal += calib.time(cal_runs)
                for j in range(n):  # rotated order: no item is always first after the calib
                    i = (j + rnd) % n
                    runners[i].warm(dev.round_warmup)
                    this_round[i] = runners[i].time(runs[i])
                if calib:
                    cal += calib.time(cal_runs)
                busy = (host.others_busy(snap, host.snapshot())
                        if dev.quiet_wait and self.times_on_host else 0.0)
                cal_med = statistics.median(cal) if cal else 0.0
                ref = self.calib_reference or (statistics.median(calib_medians)
                                               if calib_medians else cal_med)
                # Against the caller's quiet reference (a low quantile of stored rounds) only a
                # slower calibration is noise: a faster one is a quieter host than ever seen.
                if ref <= 0:
                    drift = 0.0
                elif self.calib_reference:
                    drift = max(cal_med / ref - 1.0, 0.0)
                else:
                    drift = abs(cal_med / ref - 1.0)
                noisy = busy > dev.quiet_threshold or drift > dev.calib_tol
                if noisy and attempt < dev.max_redo and self._found_quiet:
                    redone += 1
                    continue
                busy_seen.append(busy)
                if cal:
                    calib_medians.append(cal_med)
                for i in range(n):
                    samples[i].append(this_round[i])
                break
        extra = {
            "redone_rounds": redone,
            "others_busy_mean": round(float(np.mean(busy_seen)), 4) if busy_seen else 0.0,
            "calib_ms": [round(c, 6) for c in calib_medians],
            **({"calib_reference_ms": round(self.calib_reference, 6)}
               if self.calib_reference and calib_medians else {}),
            "core": core,
            "batch": n,
            **{k: round(v, 3) for k, v in waits.items()},
        }
        versions = self.versions()
        out = []
        for s, r in zip(samples, runners, strict=True):
            # A runner may add its own diagnostics (e.g. benchmark_model's min/max/std).
            item_extra = {**extra, **getattr(r, "extra", {})}
            if calib_medians:
                item_extra["median_ms_calibrated"] = calibrated_median(s, calib_medians)
            out.append(summarize(s, self.runtime, versions, item_extra))
        return out


# ---------------------------------------------------------------------- registry
_PROFILERS: dict[str, type[Profiler]] = {}
_MODULES = {
    "ort": "latency.profilers.ort",
    "litert": "latency.profilers.litert",
    "tflite-adb": "latency.profilers.adb",
}


def register_profiler(cls: type[Profiler]) -> type[Profiler]:
    """Class decorator: make `cls` the profiler of `cls.backend`."""
    _PROFILERS[cls.backend] = cls
    return cls


def profiler_class(backend: str) -> type[Profiler]:
    """The profiler class of a backend; its module is imported on demand, so a missing
    optional runtime (LiteRT, adb) only matters for the devices that use it."""
    if backend not in _PROFILERS and backend in _MODULES:
        import importlib

        importlib.import_module(_MODULES[backend])
    if backend not in _PROFILERS:
        raise unknown_name("profiler backend", backend, set(_MODULES) | set(_PROFILERS))
    return _PROFILERS[backend]


def get_profiler(device: Device, **overrides: Any) -> Profiler:
    """A profiler for `device` (`overrides`: rounds, runs, warmup)."""
    return profiler_class(device.backend)(device, **overrides)
