"""A profiling campaign: measure a list of blocks and networks on a device into the store.

This is the engine of `nas profile`. It is resumable by construction: the plan is deterministic
(sampler seed), items already in the store are skipped, and each finished batch is written row
by row, each row its own transaction, so a `kill -9` loses only the batch being measured
(interleaving over rounds means a batch finishes together; `batch=1` loses one item at most).
Several phones profile in parallel as one worker process per adb serial, each taking every k-th
pending item and appending to the same store.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from latency.blocks import BlockSpec
from latency.devices import Device
from latency.profilers.base import get_profiler
from latency.store import Store, arch_key, base_key, block_key
from nas.errors import UserError


@dataclass
class NetworkItem:
    """A whole sampled network: its arch, its blocks and the input it is timed at."""

    arch: dict[str, Any]
    blocks: list[BlockSpec]
    input_hw: tuple[int, int]
    num_classes: int = 19


@dataclass
class Plan:
    """What to measure; `pending(store)` drops what the store already has."""

    device: Device
    blocks: list[BlockSpec] = field(default_factory=list)
    networks: list[NetworkItem] = field(default_factory=list)
    space: str | None = None  # recorded on block rows when the blocks come from one space
    remeasure: bool = False  # items stay pending until a quiet row of theirs is stored
    slow_factor: float | None = None  # what "quiet" means for `remeasure` (None: SLOW_FACTOR)
    repeats: int | None = None  # with `remeasure`: pending until an item has this many rows

    def pending(self, store: Store) -> Plan:
        if self.remeasure and self.repeats is not None:
            have_b = keys_with(store, self.device.name, "block", self.repeats)
            have_n = keys_with(store, self.device.name, "network", self.repeats)
        elif self.remeasure:
            versions = get_profiler(self.device).versions()
            have_b = quiet_keys(store, self.device.name, "block", versions, self.slow_factor)
            have_n = quiet_keys(store, self.device.name, "network", versions, self.slow_factor)
        else:
            have_b = store.keys(self.device.name, "block")
            have_n = store.keys(self.device.name, "network")
        return Plan(self.device,
                    [b for b in self.blocks if block_key(b) not in have_b],
                    [n for n in self.networks if arch_key(n.arch) not in have_n],
                    self.space, self.remeasure, self.slow_factor, self.repeats)

    def shard(self, i: int, k: int) -> Plan:
        return Plan(self.device, self.blocks[i::k], self.networks[i::k], self.space,
                    self.remeasure, self.slow_factor, self.repeats)

    def __len__(self) -> int:
        return len(self.blocks) + len(self.networks)


def calib_reference(store: Store, device: str, versions: dict[str, str]) -> float | None:
    """The host's quiet calibration-block ms (`calibration.quiet_calib`) over the device's stored
    rows timed on this host with these runtime versions (None when there are none yet), so
    every batch is judged against the host's quiet speed rather than against itself."""
    from latency.predictors.calibration import quiet_calib

    rows = store.rows(device)
    if len(rows) == 0:
        return None
    return quiet_calib(_same_host(rows, versions))


def _same_host(rows: Any, versions: dict[str, str]) -> Any:
    import socket

    from latency.store import _dumps

    return rows[(rows["host"] == socket.gethostname()) & (rows["versions"] == _dumps(versions))]


def _item_rows(store: Store, device: str, kind: str) -> Any:
    """The (device, kind) rows with `key` the item's key (a repeat's `#n` stripped)."""
    rows = store.rows(device, kind)
    return rows.assign(key=[base_key(k) for k in rows["key"]]) if len(rows) else rows


def _quiet(rows: Any, versions: dict[str, str], reference: float | None,
           factor: float | None = None) -> set[str]:
    from latency.predictors.calibration import SLOW_FACTOR, quiet_mask

    if len(rows) == 0:
        return set()
    here = _same_host(rows, versions)
    quiet = quiet_mask(here, reference, SLOW_FACTOR if factor is None else factor)
    return set(rows["key"]) - set(here["key"]) | set(here["key"][quiet])


def quiet_keys(store: Store, device: str, kind: str, versions: dict[str, str],
               factor: float | None = None) -> set[str]:
    """Keys of (device, kind) with a row this host timed at its usual speed (or without a
    calibration block), and every key measured elsewhere: those are not this host's to judge."""
    return _quiet(_item_rows(store, device, kind), versions,
                  calib_reference(store, device, versions), factor)


def keys_with(store: Store, device: str, kind: str, repeats: int) -> set[str]:
    """Item keys of (device, kind) stored at least `repeats` times (repeats count, any host)."""
    counts = _item_rows(store, device, kind)["key"].value_counts()
    return set(counts.index[counts >= repeats])


def _plan_of_rows(device: Device, blocks: Any, nets: Any, num_classes: int, **kw: Any) -> Plan:
    """A remeasuring plan of stored block and network rows (one row per item)."""
    from latency.features import networks_from_rows, specs_from_rows

    plan = Plan(device, specs_from_rows(blocks) if len(blocks) else [], remeasure=True, **kw)
    if len(nets):
        for arch, specs, shape in zip(nets["arch"], networks_from_rows(nets), nets["input_shape"],
                                      strict=True):
            hw = tuple(json.loads(shape)[0][2:])
            plan.networks.append(NetworkItem(json.loads(arch), specs, hw, num_classes))
    return plan


def repeat_plan(store: Store, device: Device, repeats: int, num_classes: int = 19,
                kinds: Sequence[str] = ("block", "network"), spaces: Sequence[str] = ()) -> Plan:
    """A plan that measures each stored item of `kinds` (of `spaces`; all when empty) again
    until it has `repeats` rows. Killed and run again, it plans only what is still missing.

    The host's speed drifts for minutes at a time and the small calibration block does not see
    all of it (see latency/predictors/split.py), so the split takes an item's fastest row: every
    extra repeat taken at another time brings that minimum closer to the quiet host's latency.
    """
    import pandas as pd

    def short(kind: str) -> Any:
        rows = _item_rows(store, device.name, kind)
        if kind not in kinds or len(rows) == 0:
            return rows.iloc[0:0]
        if spaces:
            rows = rows[rows["space"].isin(set(spaces))]
            if len(rows) == 0:
                return rows
        missing = repeats - rows["key"].map(rows["key"].value_counts())
        first = rows.assign(missing=missing).drop_duplicates("key")
        # one pass over the items per missing repeat, so an item's repeats lie far apart in time
        passes = [first[first["missing"] > p] for p in range(int(first["missing"].max()))]
        return pd.concat(passes) if passes else first.iloc[0:0]

    return _plan_of_rows(device, short("block"), short("network"), num_classes,
                         repeats=repeats)


def remeasure_plan(store: Store, device: Device, num_classes: int = 19,
                   factor: float | None = None) -> Plan:
    """A plan of the device's stored blocks and networks that this host timed only while it ran
    slower than `factor` (default `SLOW_FACTOR`) x its quiet calibration (see
    latency/predictors/calibration.py); measuring them again appends quieter rows, which the
    split then prefers."""
    versions = get_profiler(device).versions()
    reference = calib_reference(store, device.name, versions)

    def slow(kind: str) -> Any:
        rows = _item_rows(store, device.name, kind)
        if len(rows) == 0:
            return rows
        quiet = _quiet(rows, versions, reference, factor)
        return rows[~rows["key"].isin(quiet)].drop_duplicates("key")

    return _plan_of_rows(device, slow("block"), slow("network"), num_classes, slow_factor=factor)


def _batch_calib(measurements: Sequence[Any]) -> float | None:
    """The median calibration of a finished batch (the reference of a fresh store); every item
    of a batch carries the same calibration rounds, so the first one speaks for it."""
    import math

    from latency.predictors.calibration import calib_of

    ref = calib_of(measurements[0].extra) if measurements else float("nan")
    return None if math.isnan(ref) else ref


def _batches(seq: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [seq[i:i + size] for i in range(0, len(seq), size)]


def run_plan(plan: Plan, store_path: Path, *, batch: int = 16, overrides: dict[str, Any],
             position: int = 0, progress: bool = True, host_wait_s: float = 0.0) -> int:
    """Measure every pending item of `plan`; returns how many rows were added.

    host_wait_s: per batch, how long to wait for this host's quiet speed before a batch timed
    while it ran slow is stored anyway (latency/profilers/host_speed.py; 0: no waiting).
    """
    from tqdm import tqdm

    import search_spaces
    from latency.profilers.host_speed import SpeedGate

    store = Store(store_path)
    plan = plan.pending(store)
    profiler = get_profiler(plan.device, **overrides)
    dev = plan.device.name
    profiler.calib_reference = calib_reference(store, dev, profiler.versions())
    added = 0
    bar = tqdm(total=len(plan), desc=f"{dev}{' ' + plan.device.serial if plan.device.serial else ''}",
               unit="item", position=position, disable=not progress, file=sys.stderr,
               dynamic_ncols=True)
    gate = SpeedGate(profiler.calib_reference, host_wait_s,
                     say=lambda msg: bar.write(msg, file=sys.stderr), device=dev)
    with bar:
        for chunk in _batches(plan.blocks, max(1, batch)):
            gate.reference = profiler.calib_reference
            ms = gate.measure(profiler, list(chunk))
            for spec, m in zip(chunk, ms, strict=True):
                added += store.add_block(dev, spec, m, space=plan.space, repeat=plan.remeasure)
            profiler.calib_reference = profiler.calib_reference or _batch_calib(ms)
            bar.update(len(chunk))
        for chunk in _batches(plan.networks, max(1, min(batch, 4))):
            items = []
            for net in chunk:
                module = search_spaces.get(net.arch["space"]).build(net.arch, net.num_classes)
                items.append((module, [(1, 3, *net.input_hw)]))
            gate.reference = profiler.calib_reference
            ms = gate.measure(profiler, items)
            for net, m in zip(chunk, ms, strict=True):
                added += store.add_network(dev, net.arch, net.blocks, m,
                                           input_shape=[(1, 3, *net.input_hw)],
                                           repeat=plan.remeasure)
            profiler.calib_reference = profiler.calib_reference or _batch_calib(ms)
            bar.update(len(chunk))
    store.close()
    if host_wait_s > 0 and (gate.waited_s or gate.slow_batches):
        print(f"nas: waited {gate.waited_s:.0f} s for the host's quiet speed; "
              f"{gate.slow_batches} batches stored slower than x{1 + gate.tol:.2f} of it",
              file=sys.stderr)
    return added


def _worker(plan: Plan, store_path: Path, batch: int, overrides: dict[str, Any],
            position: int, progress: bool, errors: Any) -> None:
    try:
        run_plan(plan, store_path, batch=batch, overrides=overrides, position=position,
                 progress=progress)  # phones: thermal waits; no calibration block to gate on
    except UserError as err:
        errors.put(f"{plan.device.serial}: {err}")
        raise SystemExit(2) from None


def run_parallel(plan: Plan, serials: Sequence[str], store_path: Path, *, batch: int,
                 overrides: dict[str, Any], progress: bool = True) -> int:
    """One worker process per adb serial, each on every k-th pending item; returns rows added."""
    store = Store(store_path)
    before = store.count(plan.device.name)
    pending = plan.pending(store)
    ctx = mp.get_context("spawn")  # no fork: torch/ORT thread pools do not survive one
    errors = ctx.Queue()
    procs = []
    for i, serial in enumerate(serials):
        part = pending.shard(i, len(serials))
        part.device = plan.device.with_(serial=serial)
        p = ctx.Process(target=_worker, args=(part, store_path, batch, overrides, i, progress,
                                              errors), name=f"nas-profile-{serial}")
        p.start()
        procs.append(p)
    for p in procs:
        p.join()
    messages = []
    while not errors.empty():
        messages.append(errors.get())
    failed = [p.name for p in procs if p.exitcode != 0]
    if messages or failed:
        raise UserError("; ".join(messages) or f"workers failed: {', '.join(failed)}")
    return store.count(plan.device.name) - before
