"""Profilers: one module per backend behind one interface (`base.Profiler`).

`get_profiler(device)` picks the backend's profiler; backends import lazily so a missing
optional runtime (LiteRT, adb) only matters for the devices that need it.
"""

from latency.profilers.base import (
    Measurement,
    ProfileItem,
    Profiler,
    get_profiler,
    profiler_class,
    register_profiler,
)

__all__ = [
    "Measurement",
    "ProfileItem",
    "Profiler",
    "get_profiler",
    "profiler_class",
    "register_profiler",
]
