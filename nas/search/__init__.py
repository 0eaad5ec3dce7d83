"""Search drivers, dispatched by space name (DESIGN.md, "Search drivers").

`get_driver(space)` returns the callable that searches a space: `gradient` for RTSeg (weights,
DWBC gates and Gumbel logits trained jointly), `optuna` for FFNet (and as an outer loop over the
gradient search, `--tune`), `routing` for the dynamic-routing space. A new space plugs in with
`register_driver`. Drivers are named by "module:function" so importing this package stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from nas.errors import UserError

Driver = Callable[..., dict[str, Any]]

_DRIVERS: dict[str, str] = {
    "rtseg": "nas.search.gradient:run_gradient_search",
    "ffnet": "nas.search.optuna_driver:run_optuna_search",
    "routing": "nas.search.routing:run_routing_search",
}


def register_driver(space: str, target: str) -> None:
    """Make `target` ("package.module:function") the search driver of `space`."""
    if ":" not in target:
        raise ValueError(f"driver target must be 'module:function', got {target!r}")
    _DRIVERS[space] = target


def get_driver(space: str) -> Driver:
    """The driver of a registered space; unknown spaces fail listing close matches."""
    import search_spaces

    search_spaces.get(space)  # unknown name -> UserError with close matches
    if space not in _DRIVERS:
        raise UserError(f"--space {space}: no search driver for this space yet; "
                        f"searchable: {', '.join(sorted(_DRIVERS))}")
    module, func = _DRIVERS[space].split(":")
    return getattr(importlib.import_module(module), func)


def drivers() -> dict[str, str]:
    return dict(_DRIVERS)


__all__ = ["Driver", "drivers", "get_driver", "register_driver"]
