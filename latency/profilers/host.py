"""This host's CPU: how busy other processes keep it, and pinning ourselves to one core.

Timing on a shared machine is only as good as the quiet moments we catch. `/proc/stat` gives the
machine-wide busy time and `/proc/self/stat` our own, so their difference is what *other*
processes used; a round starts when that stays below a threshold and is measured again when it
did not stay there.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class CpuTimes:
    """A snapshot of machine-wide and own CPU time, in seconds (summed over cores)."""

    wall: float
    busy: list[float]  # per core: user+nice+system+irq+softirq+steal
    total: list[float]  # per core: busy + idle + iowait
    own: float  # this process (all threads)


def _read_proc_stat() -> tuple[list[float], list[float]]:
    busy, total = [], []
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu") or line.startswith("cpu "):
                continue
            v = [int(x) for x in line.split()[1:]]
            idle = v[3] + (v[4] if len(v) > 4 else 0)
            b = sum(v[:3]) + sum(v[5:8])  # guest time is already inside user
            busy.append(b / _CLK_TCK)
            total.append((b + idle) / _CLK_TCK)
    return busy, total


def _own_cpu() -> float:
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK  # utime + stime


def snapshot() -> CpuTimes | None:
    """Current CPU times, or None where /proc is not available (not Linux)."""
    try:
        busy, total = _read_proc_stat()
        return CpuTimes(time.monotonic(), busy, total, _own_cpu())
    except (OSError, ValueError, IndexError):
        return None


def others_busy(a: CpuTimes | None, b: CpuTimes | None) -> float:
    """Fraction of the whole machine other processes used between snapshots `a` and `b`."""
    if a is None or b is None:
        return 0.0
    total = sum(b.total) - sum(a.total)
    if total <= 0:
        return 0.0
    others = (sum(b.busy) - sum(a.busy)) - (b.own - a.own)
    return min(1.0, max(0.0, others / total))


def least_busy_core(window_s: float = 0.1) -> int:
    """The allowed core other processes used least over a short window."""
    allowed = sorted(os.sched_getaffinity(0))
    a = snapshot()
    time.sleep(window_s)
    b = snapshot()
    if a is None or b is None:
        return allowed[-1]

    def load(core: int) -> float:
        if core >= len(a.busy):
            return 1.0
        return (b.busy[core] - a.busy[core]) / max(1e-9, b.total[core] - a.total[core])

    return min(reversed(allowed), key=load)


def wait_quiet(threshold: float, max_wait_s: float, window_s: float = 0.1) -> tuple[float, float]:
    """Block until other processes use less than `threshold` of the machine over `window_s`.

    Returns `(waited_s, last_busy_fraction)`. Gives up after `max_wait_s`: on a machine shared
    by a team there may be no quiet moment, and noisy rounds are caught afterwards anyway.
    """
    start = time.monotonic()
    busy = 0.0
    while True:
        a = snapshot()
        time.sleep(window_s)
        busy = others_busy(a, snapshot())
        waited = time.monotonic() - start
        if busy < threshold or waited >= max_wait_s:
            return waited, busy


@contextlib.contextmanager
def pinned(core: int | None) -> Iterator[int | None]:
    """Run the body with this process pinned to `core` (None = leave affinity alone).

    Pinning keeps the one timing thread from migrating between cores mid-run (cold caches,
    another frequency domain); the old affinity is restored afterwards.
    """
    if core is None or not hasattr(os, "sched_setaffinity"):
        yield None
        return
    old = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {core})
    except OSError:
        yield None
        return
    try:
        yield core
    finally:
        os.sched_setaffinity(0, old)


def cpu_model() -> str:
    """The CPU's marketing name (recorded with every measurement: latency is per chip)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
