"""Routing archs: parsing the size options, validating, normalising and sampling.

An arch lists the kept routes of every cell (a static "common" network of the paper):

    {"space": "routing", "num_layers": 16, "base_channels": 64, "strides": [4, 8, 16, 32],
     "routes": [[["keep", "down"]], [["keep", "down"], ["keep", "up", "down"]], ...],
     "budget": {"lambda": 0.5, "mu": 0.1}}          # optional: the budget it was searched under

`routes[i][s]` belongs to the cell at layer i (0 = the initial cell) and scale s (0 = 1/4).
Normalising sorts each list in gate order and empties the route lists of cells that no kept
route reaches (they never run), so equal networks have equal archs.
"""

from __future__ import annotations

import math
import random
from typing import Any

from nas.errors import UserError
from search_spaces.base import Arch
from search_spaces.routing.topology import (
    MAX_SCALES,
    PRESET_LAYERS,
    ROUTES,
    SHIFT,
    Topology,
)

SPACE = "routing"
CFG_KEYS = ("preset", "num_layers", "width_mult", "base_channels", "strides", "small_gate",
            "gate_bias")


def _int(value: Any, field: str, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise UserError(f"arch field '{field}': expected an integer >= {lo}, got {value!r}")
    return value


def check_strides(value: Any, field: str = "strides") -> int:
    """Number of scales of a stride list; only 4, 8, 16, 32 (a prefix) can be formed."""
    if (
        not isinstance(value, list) or not value or len(value) > MAX_SCALES
        or value != [4 * 2**s for s in range(len(value))]
    ):
        raise UserError(
            f"arch field '{field}': expected consecutive doublings from 4 up to at most 32, "
            f"e.g. [4, 8, 16, 32]; got {value!r}"
        )
    return len(value)


def check_topology(num_layers: Any, base_channels: Any, strides: Any) -> Topology:
    scales = check_strides(strides)
    layers = _int(num_layers, "num_layers", 1)
    if layers < scales - 1:
        raise UserError(
            f"arch field 'num_layers': {layers} layers cannot reach stride {strides[-1]} "
            f"(layer i goes down to stride 4 * 2**i at most); expected at least {scales - 1}"
        )
    base = _int(base_channels, "base_channels", 2)
    if base % 2:
        raise UserError(f"arch field 'base_channels': expected an even number, got {base}")
    return Topology(layers, scales, base)


def check_budget(value: Any, field: str = "budget") -> dict[str, float]:
    """`{"lambda": >= 0, "mu": in (0, 1]}`: the paper's budget loss weight and target ratio."""
    if not isinstance(value, dict) or set(value) - {"lambda", "mu"} or "mu" not in value:
        raise UserError(f"arch field '{field}': expected {{'lambda': x, 'mu': y}}, got {value!r}")
    mu, lam = value["mu"], value.get("lambda", 1.0)
    if isinstance(mu, bool) or not isinstance(mu, (int, float)) or not 0 < mu <= 1:
        raise UserError(f"arch field '{field}.mu': expected a number in (0, 1], got {mu!r}")
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not lam >= 0:
        raise UserError(f"arch field '{field}.lambda': expected a number >= 0, got {lam!r}")
    return {"lambda": float(lam), "mu": float(mu)}


def check_routes(value: Any, topo: Topology) -> list[list[list[str]]]:
    n = topo.num_layers + 1
    if not isinstance(value, list) or len(value) != n:
        raise UserError(
            f"arch field 'routes': expected a list of {n} layers (the initial cell, then "
            f"{topo.num_layers} layers), got {_describe(value)}"
        )
    out: list[list[list[str]]] = []
    for i, layer in enumerate(value):
        cells = topo.num_cells(i)
        if not isinstance(layer, list) or len(layer) != cells:
            raise UserError(
                f"arch field 'routes[{i}]': layer {i} has {cells} cells (scales 1/4.."
                f"1/{topo.strides[cells - 1]}); expected a list of {cells} route lists, "
                f"got {_describe(layer)}"
            )
        out.append([_check_cell(cell, i, s, topo) for s, cell in enumerate(layer)])
    return out


def _check_cell(cell: Any, i: int, s: int, topo: Topology) -> list[str]:
    field = f"routes[{i}][{s}]"
    if not isinstance(cell, list) or not all(isinstance(r, str) for r in cell):
        raise UserError(f"arch field '{field}': expected a list of route names, got {cell!r}")
    allowed = topo.allowed_routes(i, s)
    for r in cell:
        if r not in ROUTES:
            raise UserError(f"arch field '{field}': unknown route {r!r}; expected one of "
                            f"{', '.join(ROUTES)}")
        if r not in allowed:
            if i == topo.num_layers:
                why = "the last layer only keeps (its outputs feed the decoder)"
            else:
                stride = 4 * 2 ** (s + SHIFT[r]) if s + SHIFT[r] >= 0 else 2
                why = f"it goes to stride {stride}, which layer {i + 1} does not have"
            raise UserError(
                f"arch field '{field}': route '{r}' is not possible here: {why}; "
                f"allowed: {', '.join(allowed)}"
            )
    if len(set(cell)) != len(cell):
        raise UserError(f"arch field '{field}': a route is listed twice in {cell!r}")
    return [r for r in ROUTES if r in cell]


def _describe(value: Any) -> str:
    return f"a list of {len(value)}" if isinstance(value, list) else repr(value)[:60]


def prune_unreachable(routes: list[list[list[str]]], topo: Topology) -> list[list[list[str]]]:
    """Empty the route lists of cells nothing arrives at: they never run."""
    live = {0}  # scales reached in the current layer; the stem feeds the initial cell
    out = []
    for layer in routes:
        new_layer, nxt = [], set()
        for s, kept in enumerate(layer):
            if s not in live:
                new_layer.append([])
                continue
            new_layer.append(list(kept))
            nxt.update({s + SHIFT[r] for r in kept} if kept else {s})
        out.append(new_layer)
        live = nxt
    return out


def validate(arch: Any) -> Arch:
    """The normalised arch, or a `UserError` naming the bad field."""
    if not isinstance(arch, dict):
        raise UserError(f"arch: expected a JSON object, got {type(arch).__name__}")
    if arch.get("space") != SPACE:
        raise UserError(f"arch field 'space': expected '{SPACE}', got {arch.get('space')!r}")
    for key in ("num_layers", "base_channels", "strides", "routes"):
        if key not in arch:
            raise UserError(f"arch field '{key}': missing")
    topo = check_topology(arch["num_layers"], arch["base_channels"], arch["strides"])
    routes = prune_unreachable(check_routes(arch["routes"], topo), topo)
    out = {k: v for k, v in arch.items() if k not in ("budget",)}
    out.update(make_arch(topo, routes))
    if "budget" in arch:
        out["budget"] = check_budget(arch["budget"])
    return out


def make_arch(topo: Topology, routes: list[list[list[str]]]) -> Arch:
    return {
        "space": SPACE, "num_layers": topo.num_layers, "base_channels": topo.base_channels,
        "strides": topo.strides, "routes": routes,
    }


def topology_of(arch: Arch) -> Topology:
    return Topology(arch["num_layers"], len(arch["strides"]), arch["base_channels"])


def parse_cfg(cfg: dict[str, Any]) -> tuple[Topology, dict[str, Any]]:
    """Size options of `supernet`/`sample` -> topology and gate options.

    Options: `preset` ("layer16" / "layer33"), `num_layers`, `width_mult` (of 64) or
    `base_channels`, `strides`, `small_gate`, `gate_bias`.
    """
    unknown = set(cfg) - set(CFG_KEYS)
    if unknown:
        raise UserError(f"routing space: unknown option(s) {sorted(unknown)}; "
                        f"expected some of {', '.join(CFG_KEYS)}")
    layers = cfg.get("num_layers")
    if "preset" in cfg:
        if cfg["preset"] not in PRESET_LAYERS:
            raise UserError(f"routing space option 'preset': expected one of "
                            f"{', '.join(PRESET_LAYERS)}, got {cfg['preset']!r}")
        layers = PRESET_LAYERS[cfg["preset"]] if layers is None else layers
    if layers is None:
        layers = 16
    if "base_channels" in cfg:
        base = cfg["base_channels"]
    else:
        wm = cfg.get("width_mult", 1.0)
        if isinstance(wm, bool) or not isinstance(wm, (int, float)) or not wm > 0:
            raise UserError(f"routing space option 'width_mult': expected > 0, got {wm!r}")
        base = max(2, 2 * math.ceil(64 * wm / 2))
    topo = check_topology(layers, base, list(cfg.get("strides", [4, 8, 16, 32])))
    gate = {"small_gate": bool(cfg.get("small_gate", False)),
            "gate_bias": float(cfg.get("gate_bias", 1.5))}
    return topo, gate


def full_arch(topo: Topology) -> Arch:
    """Every route kept: what the supernet computes with every gate open (alpha = 1)."""
    return make_arch(topo, topo.full_routes())


def sample(rng: random.Random, topo: Topology) -> Arch:
    """A random subset of each cell's allowed routes (each route kept with probability 1/2)."""
    routes = [
        [[r for r in topo.allowed_routes(i, s) if rng.random() < 0.5]
         for s in range(topo.num_cells(i))]
        for i in range(topo.num_layers + 1)
    ]
    return make_arch(topo, prune_unreachable(routes, topo))
