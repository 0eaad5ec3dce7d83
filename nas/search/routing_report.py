"""Per-image report of a trained routing supernet, as in the paper's table (GMACs avg/max/min).

For every report image at the deployment size: the routes that ran (dynamic inference, batch 1),
the executed GMACs, the predicted latency of exactly those blocks, and the measured PyTorch eager
time with one thread. ONNX Runtime cannot skip cells per image, so the dynamic network is timed in
eager mode, interleaved image by image with the all-open supernet (every cell computed, gates
included) and the static full network (every route, no gates), each figure the median of several
passes, so the three share the machine's load.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from search_spaces.base import Arch
from search_spaces.routing import arch as arch_mod
from search_spaces.routing.dynamic import run_image
from search_spaces.routing.supernet import RoutingSupernet


def report_images(val_set: Any, n: int, input_hw: tuple[int, int]) -> list[torch.Tensor]:
    """The first `n` val images as (1, 3, H, W) at the deployment size (bilinear resize)."""
    out = []
    for idx in range(min(n, len(val_set))):
        item = val_set[idx]
        img = (item[0] if isinstance(item, (tuple, list)) else item["image"]).unsqueeze(0)
        if tuple(img.shape[-2:]) != tuple(input_hw):
            img = F.interpolate(img, size=input_hw, mode="bilinear", align_corners=False)
        out.append(img.contiguous())
    return out


def image_arch(net: RoutingSupernet, routes: Iterable[tuple[int, int, str]]) -> Arch:
    """The static arch of what ran for one image (a closed, reached cell passes through)."""
    ran = set(routes)
    topo = net.topo
    table = [[[r for r in topo.allowed_routes(i, s) if (i, s, r) in ran]
              for s in range(topo.num_cells(i))] for i in range(topo.num_layers + 1)]
    return arch_mod.make_arch(topo, arch_mod.prune_unreachable(table, topo))


@dataclass
class ImageRecord:
    gmacs: float
    predicted_ms: float | None
    routes: int
    cells: int
    measured_ms: dict[str, float] = field(default_factory=dict)
    device_ms: float | None = None


def _stats(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "min": min(values), "max": max(values)}


def time_interleaved(fns: dict[str, Callable[[], Any]], passes: int) -> dict[str, float]:
    """Median ms of each function over `passes` rounds, the functions alternating in each round."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        fn()  # warm-up
    for p in range(passes):
        order = list(fns.items()) if p % 2 == 0 else list(fns.items())[::-1]
        for name, fn in order:
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


@torch.no_grad()
def per_image_report(net: RoutingSupernet, full_net: nn.Module, images: list[torch.Tensor], *,
                     predictor: Any, space: Any, num_classes: int, passes: int,
                     measure: bool = True, threads: int = 1, device: str | None = None,
                     measured_by: list[str] | None = None,
                     also_measure: dict[str, nn.Module] | None = None,
                     ) -> tuple[list[ImageRecord], dict]:
    """Run, count, predict and (optionally) time every image; returns records and the table.

    With `device`, each image's executed network (its routes as a static net, gates excluded)
    is also timed by the device's profiler: the figure comparable to a latency target; the
    `also_measure` networks are timed in the same interleaved rounds (table["device_also_ms"]).
    """
    measured_by = [] if measured_by is None else measured_by
    also_ms: dict[str, float] = {}
    net.eval()
    full_net.eval()
    records, archs = [], []
    for img in images:
        _, rec = run_image(net, img)
        archs.append(image_arch(net, rec.routes))
        records.append(ImageRecord(gmacs=(rec.macs or 0) / 1e9, predicted_ms=None,
                                   routes=len(rec.routes), cells=len(rec.computed)))
    if predictor is not None and images:
        hw = tuple(images[0].shape[-2:])
        nets = [space.blocks(a, hw, num_classes) for a in archs]
        for r, ms in zip(records, predictor.predict_network(nets), strict=True):
            r.predicted_ms = float(ms)
    if measure and device is not None and images:
        hw = (int(images[0].shape[-2]), int(images[0].shape[-1]))
        extra = list((also_measure or {}).values())
        ms, how = measure_routed(net, space, archs, hw, num_classes, device, extra)
        if ms is not None:
            for r, m in zip(records, ms[:len(records)], strict=True):
                r.device_ms = m
            also_ms = dict(zip(also_measure or {}, ms[len(records):], strict=True))
        measured_by.append(how)
    if measure:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            for img, r in zip(images, records, strict=True):
                r.measured_ms = time_interleaved({
                    "dynamic": lambda x=img: _dynamic(net, x),
                    "all_open": lambda x=img: _soft(net, x),
                    "full_static": lambda x=img: full_net(x),
                }, passes)
        finally:
            torch.set_num_threads(before)
    table = summarise_records(records)
    if also_ms:
        table["device_also_ms"] = also_ms
    return records, table


def measure_routed(net: RoutingSupernet, space: Any, archs: list[Arch],
                   input_hw: tuple[int, int], num_classes: int, device: str,
                   extra: list[nn.Module] | None = None) -> tuple[list[float] | None, str]:
    """Device-profiler ms of each image's executed network, each distinct network timed once
    with the supernet's weights, interleaved with the others and with the `extra` networks
    (whose times come last), so that all figures share the machine's conditions."""
    import json

    from nas.export.measure import measure_many_ms

    keys = [json.dumps(a["routes"]) for a in archs]
    distinct = list(dict.fromkeys(keys))
    models = []
    for key in distinct:
        arch = archs[keys.index(key)]
        model = space.build(arch, num_classes)
        space.inherit(model, net, arch)
        models.append(model.eval())
    if not models:
        return [], "no images"
    times, how = measure_many_ms([*models, *(extra or [])], input_hw, device)
    if times is None:
        return None, how
    by_key = dict(zip(distinct, times[:len(distinct)], strict=True))
    return ([by_key[k] for k in keys] + times[len(distinct):],
            f"{how}; {len(distinct)} distinct executed network(s)")


def _dynamic(net: RoutingSupernet, x: torch.Tensor) -> torch.Tensor:
    net.dynamic_inference = True
    return net(x)


def _soft(net: RoutingSupernet, x: torch.Tensor) -> torch.Tensor:
    net.dynamic_inference = False  # every cell computed, routes multiplied by their gates
    try:
        return net(x)
    finally:
        net.dynamic_inference = True


def summarise_records(records: list[ImageRecord]) -> dict[str, Any]:
    """mean/min/max of GMACs, predicted and measured ms over the images (the paper's table)."""
    if not records:
        return {"images": 0}
    out: dict[str, Any] = {"images": len(records), "gmacs": _stats([r.gmacs for r in records]),
                           "routes": _stats([float(r.routes) for r in records]),
                           "cells": _stats([float(r.cells) for r in records])}
    if all(r.predicted_ms is not None for r in records):
        out["predicted_ms"] = _stats([float(r.predicted_ms) for r in records])  # type: ignore
    if all(r.device_ms is not None for r in records):
        out["device_ms"] = _stats([float(r.device_ms) for r in records])  # type: ignore
    if records[0].measured_ms:
        out["measured_ms"] = {k: _stats([r.measured_ms[k] for r in records])
                              for k in records[0].measured_ms}
    return out


def markdown(summary: dict[str, Any], table: dict[str, Any]) -> str:
    """report.md: the run's figures and the per-image table (the paper's avg/max/min)."""
    def f(v: Any, nd: int = 4) -> str:
        return "n/a" if v is None else f"{v:.{nd}g}"

    def amm(d: dict[str, float] | None) -> str:
        d = d or {}
        return f"{f(d.get('mean'))} / {f(d.get('max'))} / {f(d.get('min'))}"

    dev = summary["device"]
    head = (f"- device `{dev}`, input {summary['input_size'][0]}x{summary['input_size'][1]}, "
            f"budget `{summary['budget']}`")
    if summary.get("target_ms"):
        head += f", target {summary['target_ms']:g} ms"
    if summary["budget"] == "flops":
        head += f", lambda {summary['lambda']:g}, mu {summary['mu']:g}"
    eager = table.get("measured_ms", {})
    cm = summary.get("common", {})
    lines = [
        f"# Routing search {summary.get('name', '')}", "", head,
        f"- val mIoU: supernet (dynamic) {f(summary.get('miou'))}, common network "
        f"{f(cm.get('miou'))}",
        f"- images in the report: {table.get('images', 0)}", "",
        f"| network | GMACs avg / max / min | predicted ms on {dev} avg / max / min | "
        f"measured ms on {dev} avg / max / min | eager ms avg / max / min |",
        "|---|---|---|---|---|",
        f"| dynamic | {amm(table.get('gmacs'))} | {amm(table.get('predicted_ms'))} | "
        f"{amm(table.get('device_ms'))} | {amm(eager.get('dynamic'))} |",
        f"| all-open supernet | {f(summary.get('supernet_gmacs'))} | | | "
        f"{amm(eager.get('all_open'))} |",
        f"| full static (no gates) | {f(summary.get('full_gmacs'))} | | | "
        f"{amm(eager.get('full_static'))} |",
        f"| common ({cm.get('routes')} routes, static) | {f(cm.get('gmacs'))} | "
        f"{f(cm.get('predicted_ms'))} | {f(cm.get('measured_ms'))} | |",
        "",
        f"Measured on {dev}: each image's executed network (the routes that ran, as a static "
        "network; gates excluded, since ONNX Runtime cannot skip per image) timed by the "
        "device's profiler. Eager: PyTorch, 1 thread, batch 1, per-image median of "
        f"{summary.get('timing_passes')} interleaved passes of the dynamic supernet (skips "
        "closed cells and routes, gates included), the all-open supernet (every cell computed) "
        "and the full static network. Timings on a shared machine are preliminary.", ""]
    return "\n".join(lines)
