"""Measure a network's latency on a device with the project's profilers (the ORT one on a host).

Used at the end of a search and by `nas export`: the predicted latency is only a claim until the
exported network is timed the way its blocks were.
"""

from __future__ import annotations

from pathlib import Path

import torch.nn as nn

from nas.errors import UserError


def measure_ms(model_or_onnx: nn.Module | str | Path, input_hw: tuple[int, int], device: str,
               *, rounds: int | None = None, runs: int | None = None) -> tuple[float | None, str]:
    """(median ms, how) of one network on `device`; (None, why) when the device can't be used.

    Args:
        model_or_onnx: an nn.Module (exported by the profiler) or an .onnx file.
        input_hw: the deployment input size; the batch is 1.
        rounds, runs: shorten the device's protocol (None: the device's own).
    """
    times, how = measure_many_ms([model_or_onnx], input_hw, device, rounds=rounds, runs=runs)
    return (None if times is None else times[0]), how


def measure_many_ms(items: list[nn.Module | str | Path], input_hw: tuple[int, int], device: str,
                    *, rounds: int | None = None, runs: int | None = None
                    ) -> tuple[list[float] | None, str]:
    """Median ms of several networks timed *interleaved* (the profiler's rounds), so that a
    comparison between them (subnet vs supernet) is not skewed by the machine's load drifting
    between two separate measurements; (None, why) when the device can't be used."""
    from latency.devices import get_device
    from latency.profilers.base import get_profiler

    overrides = {k: v for k, v in (("rounds", rounds), ("runs", runs)) if v is not None}
    try:
        dev = get_device(device)
        profiler = get_profiler(dev, **overrides)
    except UserError as err:
        return None, f"not measured: {err}"
    shape = [(1, 3, int(input_hw[0]), int(input_hw[1]))]
    norm = [(it.eval() if isinstance(it, nn.Module) else str(it), shape) for it in items]
    ms = profiler.measure_many(norm)
    how = f"{ms[0].runtime} on '{device}', median of {ms[0].rounds} rounds"
    return [float(m.median_ms) for m in ms], how
