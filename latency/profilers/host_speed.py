"""Wait for the host's quiet speed before a batch is stored: the `cpu` counterpart of waiting
out a throttled phone.

The 2-core `cpu` host has phases of minutes in which everything runs 15-40% slower while
/proc/stat shows no other process (a noisy neighbour on the hypervisor). The profiler's per-round
redo cannot help there: every round of the batch is equally slow. What does show it is the fixed
calibration block the profiler times in every round, compared with the host's *quiet* speed
(`campaign.calib_reference`: a low quantile of the stored rows' calibrations). So a batch whose
calibration ran more than `SLOW_TOL` slower than that is measured again after `WAIT_STEP_S`,
until it is quiet or `max_wait_s` is spent; then the quietest attempt is stored, its calibration
says how slow it was, and the split (fastest row per key) or `--remeasure-slow` deals with it.

Measured with it: the rtseg search bench's winners landed at +1.7 / +3.2 / -1.3% of their
targets at host speed x1.01, against +26 / +23 / +13% for the same networks in a slow phase
(the median-figure run of 2026-12-07; nas/export/measure.py uses the same rule).

The other direction is not noise. The reference is a low quantile of the stored calibrations, so
a host that runs the calibration block well *under* it is another machine: a new checkout on
2026-12-07 ran it x0.63 and the same bench, predicting from the first machine's store, measured
its winners 31-47% under their targets, the supernet end of the space 1.9x faster, the small
end no faster (experiments/results/bench_rtseg_search-other-host.json). No single factor maps
one machine onto the other, so `other_machine_warning` asks for a store of this machine's own.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

SLOW_TOL = 0.05  # a host whose calibration block runs > 5% slow is not at its quiet speed
# A calibration > 15% *faster* than the quiet reference (itself a low quantile of the stored
# rounds) is not noise, which only slows a host down: the store was measured on another machine.
OTHER_MACHINE_TOL = 0.15
WAIT_STEP_S = 30.0  # wait this long before measuring a slow batch again


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def host_speed(measurements: Sequence[Any], reference: float | None) -> float | None:
    """A batch's calibration median over the quiet reference (1.0 = quiet; None when either is
    missing). Every item of a batch carries the same calibration rounds."""
    calib = (measurements[0].extra.get("calib_ms") or []) if measurements else []
    if not reference or not calib:
        return None
    return statistics.median(calib) / reference


def other_machine_warning(speed: float | None, device: str) -> str | None:
    """Why latencies measured or predicted here do not mean `device`'s store, or None.

    `speed` is this host's calibration over the store's quiet reference. Faster by more than
    OTHER_MACHINE_TOL: another (slower) machine timed the store. Seen on 2026-12-07: a new
    checkout ran the calibration block x0.63 and the rtseg bench's winners measured 31-47%
    under their targets. Slower by as much after any wait: a busy host or a slower machine.
    """
    if speed is None:
        return None
    fix = (f"profile '{device}' on this machine into its own store "
           f"(NAS_HOME=DIR nas profile --device {device} ...) before trusting its predictions here")
    if speed < 1.0 - OTHER_MACHINE_TOL:
        return (f"this host runs the calibration block x{speed:.2f} of the quiet speed stored "
                f"for '{device}': it is not the machine that measured the store; {fix}")
    if speed > 1.0 + OTHER_MACHINE_TOL:
        return (f"this host runs the calibration block x{speed:.2f} of the quiet speed stored "
                f"for '{device}': it is busy (wait, or pass --host-wait) or a slower machine than "
                f"the one that measured the store; if it stays so, {fix}")
    return None


@dataclass
class SpeedGate:
    """Measures a batch again while the host runs slow (see the module docstring).

    Args:
        reference: the host's quiet calibration ms (None: nothing to compare with, no waiting).
        max_wait_s: the most seconds to wait per batch (0: store what was timed).
        say: where the waiting is reported (a progress bar passes its own `write`).
        sleep: the clock (tests pass a fake one to not wait for real).
        device: the device name for the warning when a batch runs far *faster* than the
            reference: the store was measured on another machine, and rows from two machines
            in one store make a predictor of neither (said once per gate).
    """

    reference: float | None
    max_wait_s: float = 0.0
    tol: float = SLOW_TOL
    step_s: float = WAIT_STEP_S
    say: Callable[[str], None] = _stderr
    sleep: Callable[[float], None] = time.sleep
    device: str = "this device"
    waited_s: float = field(default=0.0, init=False)  # over every batch so far
    warned: bool = field(default=False, init=False)
    slow_batches: int = field(default=0, init=False)  # stored although slower than `tol`

    def measure(self, profiler: Any, items: Sequence[Any]) -> list[Any]:
        """`profiler.measure_many(items)`, again after a wait while the host is slow; returns
        the quietest attempt, with `host_speed` and `host_wait_s` added to each item's extra."""
        best, best_speed, waited = None, None, 0.0
        while True:
            ms = profiler.measure_many(items)
            speed = host_speed(ms, self.reference)
            if best is None or (speed is not None and best_speed is not None
                                and speed < best_speed):
                best, best_speed = ms, speed
            if speed is None or speed <= 1.0 + self.tol or waited >= self.max_wait_s:
                break
            step = min(self.step_s, self.max_wait_s - waited)
            self.say(f"host calibration x{speed:.2f} of its quiet speed: measuring these "
                     f"{len(items)} items again in {step:.0f} s ({waited:.0f} of "
                     f"{self.max_wait_s:.0f} s waited)")
            self.sleep(step)
            waited += step
        self.waited_s += waited
        if best_speed is not None and best_speed > 1.0 + self.tol:
            self.slow_batches += 1
        if not self.warned and best_speed is not None and best_speed < 1.0 - OTHER_MACHINE_TOL:
            self.warned = True
            self.say(f"warning: {other_machine_warning(best_speed, self.device)}")
        for m in best:
            if best_speed is not None:
                m.extra["host_speed"] = round(best_speed, 4)
            if waited:
                m.extra["host_wait_s"] = round(waited, 1)
        return best
