"""Measure a network's latency on a device with the project's profilers (the ORT one on a host).

Used at the end of a search and by `nas export`: the predicted latency is only a claim until the
exported network is timed the way its blocks were.

A network is timed in `passes` separate profiler passes (fresh sessions, seconds apart) and the
fastest figure is reported, each pass's figure being its fastest round median
(latency/statistic.py). Why: on a shared host a whole pass can run 10-30% slow, for one network
or for all of them, while the fastest of a few passes is stable (measured by
experiments/bench_measure_passes.py). The store is read the same way (latency/statistic.py,
and latency/predictors/split.py keeps an item's fastest row), so a measured figure and a
predicted one mean the same thing.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch.nn as nn

from latency.profilers.host_speed import (
    SLOW_TOL,
    WAIT_STEP_S,
    host_speed,
    other_machine_warning,
)
from latency.statistic import fast_ms
from nas.errors import UserError

PASSES = 3  # profiler passes per measurement; the fastest pass's figure is reported
# with max_wait_s: another pass every WAIT_STEP_S while the host runs > SLOW_TOL slow


def measure_ms(model_or_onnx: nn.Module | str | Path, input_hw: tuple[int, int], device: str,
               *, rounds: int | None = None, runs: int | None = None,
               passes: int = PASSES) -> tuple[float | None, str]:
    """(fast ms, how) of one network on `device`; (None, why) when the device can't be used.

    Args:
        model_or_onnx: an nn.Module (exported by the profiler) or an .onnx file.
        input_hw: the deployment input size; the batch is 1.
        rounds, runs: shorten the device's protocol (None: the device's own).
        passes: separate profiler passes; the fastest pass's figure is returned.
    """
    times, how = measure_many_ms([model_or_onnx], input_hw, device, rounds=rounds, runs=runs,
                                 passes=passes)
    return (None if times is None else times[0]), how


def measure_many_ms(items: list[nn.Module | str | Path], input_hw: tuple[int, int], device: str,
                    *, rounds: int | None = None, runs: int | None = None,
                    passes: int = PASSES, max_wait_s: float = 0.0
                    ) -> tuple[list[float] | None, str]:
    """Ms of several networks timed *interleaved* (the profiler's rounds), so that a
    comparison between them (subnet vs supernet) is not skewed by the machine's load drifting
    between two separate measurements; each network's figure is its fastest round median over
    `passes` passes; (None, why) when the device can't be used. See `timed` for max_wait_s."""
    t = timed(items, input_hw, device, rounds=rounds, runs=runs, passes=passes,
              max_wait_s=max_wait_s)
    return t.times, t.how


@dataclass
class Timing:
    """What `timed` measured. times: fastest round median per network (None: not measured, see how).

    host_speed: the calibration block's median in the fastest-calibrated pass over the host's
    quiet reference from the store (1.0 = as fast as when the store was measured; None without
    a reference). waited_s: time spent waiting for the host to get back to that speed.
    warning: `host_speed.other_machine_warning` (None: the host matches its store).
    """

    times: list[float] | None
    how: str
    passes: int = 0
    host_speed: float | None = None
    waited_s: float = 0.0
    warning: str | None = None


def timed(items: list[nn.Module | str | Path], input_hw: tuple[int, int], device: str,
          *, rounds: int | None = None, runs: int | None = None, passes: int = PASSES,
          max_wait_s: float = 0.0) -> Timing:
    """Time networks in `passes` passes (fastest round median each); with `max_wait_s` > 0, keep
    adding a pass every WAIT_STEP_S while the host's calibration block runs more than SLOW_TOL
    slower than its quiet reference, up to max_wait_s: the latency predictor learned the host's
    quiet speed, so a figure taken while neighbours slow the host down (the way a throttled
    phone is waited out) compares a different machine with the prediction."""
    if passes < 1:
        raise ValueError(f"passes must be >= 1, got {passes}")
    from latency.devices import get_device
    from latency.profilers.base import get_profiler

    overrides = {k: v for k, v in (("rounds", rounds), ("runs", runs)) if v is not None}
    try:
        dev = get_device(device)
        profiler = get_profiler(dev, **overrides)
    except UserError as err:
        return Timing(None, f"not measured: {err}")
    shape = [(1, 3, int(input_hw[0]), int(input_hw[1]))]
    norm = [(it.eval() if isinstance(it, nn.Module) else str(it), shape) for it in items]
    reference = _quiet_reference(profiler, device)
    if reference:  # rounds whose calibration drifted from the quiet speed get redone
        profiler.calib_reference = reference
    best: list[float] | None = None
    speed: float | None = None
    done, waited = 0, 0.0
    while True:
        ms = profiler.measure_many(norm)
        done += 1
        got = [fast_ms(m.median_ms, m.extra) for m in ms]
        best = got if best is None else [min(a, b) for a, b in zip(best, got, strict=True)]
        now = host_speed(ms, reference)
        if now is not None:
            speed = now if speed is None else min(speed, now)
        slow = speed is not None and speed > 1.0 + SLOW_TOL
        if done >= passes and not (slow and waited < max_wait_s):
            break
        if done >= passes:
            print(f"host calibration x{speed:.2f} of its quiet speed: waiting "
                  f"{WAIT_STEP_S:.0f} s ({waited:.0f} of {max_wait_s:.0f} s so far)",
                  file=sys.stderr, flush=True)
            time.sleep(WAIT_STEP_S)
            waited += WAIT_STEP_S
    how = f"{ms[0].runtime} on '{device}', fastest round median of {ms[0].rounds} rounds"
    if done > 1:
        how += f", fastest of {done} passes"
    if speed is not None:
        how += f", host calibration x{speed:.2f} of its quiet reference"
    if waited:
        how += f" after waiting {waited:.0f} s"
    warning = other_machine_warning(speed, device)
    _warn_once(device, warning)
    return Timing(best, how, done, None if speed is None else round(speed, 4), waited, warning)


_WARNED: set[str] = set()


def _warn_once(device: str, warning: str | None) -> None:
    """Print a device's host warning once per process (a bench times many sets)."""
    if warning and device not in _WARNED:
        _WARNED.add(device)
        print(f"warning: {warning}", file=sys.stderr, flush=True)


def host_check(device: str) -> str | None:
    """Time a tiny block (its rounds time the device's calibration block; about a second) and
    compare the calibration with the quiet speed of `device`'s store: the warning of
    `other_machine_warning`, or None (a match, a device timed off the host, or no store yet).
    Run before a search, so a store that belongs to another machine is named before hours of
    training rather than at the final measurement."""
    from latency.devices import get_device
    from latency.ops import conv_spec
    from latency.profilers.base import get_profiler

    try:
        profiler = get_profiler(get_device(device), rounds=5)
    except UserError:
        return None
    reference = _quiet_reference(profiler, device) if profiler.times_on_host else None
    if not reference:
        return None
    speed = host_speed(profiler.measure_many([conv_spec(4, 4, 8, 8, k=1)]), reference)
    warning = other_machine_warning(speed, device)
    _warn_once(device, warning)
    return warning


def _quiet_reference(profiler: Any, device: str) -> float | None:
    """The host's quiet calibration ms for `device` from the store (None: no rows yet)."""
    from latency.profilers.campaign import calib_reference
    from latency.store import Store
    from nas.paths import store_path

    if profiler.calibration_item() is None or not store_path().is_file():
        return None
    return calib_reference(Store(store_path()), device, profiler.versions())
