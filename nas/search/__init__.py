"""Search drivers, dispatched by space name (DESIGN.md, "Search drivers").

`get_driver(space)` returns the callable that searches a space: `gradient` (RTSeg: weights, DWBC
gates and Gumbel logits trained jointly) today; the `optuna` driver (FFNet) and the `routing`
driver plug in here with `register_driver` when they land. Drivers are named by
"module:function" so that importing this package stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from nas.errors import UserError

Driver = Callable[..., dict[str, Any]]

_DRIVERS: dict[str, str] = {"rtseg": "nas.search.gradient:run_gradient_search"}
# spaces whose driver is planned but not written yet, with the driver's name
_PLANNED: dict[str, str] = {"ffnet": "optuna", "routing": "routing"}


def register_driver(space: str, target: str) -> None:
    """Make `target` ("package.module:function") the search driver of `space`."""
    if ":" not in target:
        raise ValueError(f"driver target must be 'module:function', got {target!r}")
    _DRIVERS[space] = target
    _PLANNED.pop(space, None)


def get_driver(space: str) -> Driver:
    """The driver of a registered space; unknown spaces fail listing close matches."""
    import search_spaces

    search_spaces.get(space)  # unknown name -> UserError with close matches
    if space not in _DRIVERS:
        planned = _PLANNED.get(space)
        what = f"the {planned} driver" if planned else "a search driver"
        raise UserError(f"--space {space}: not implemented yet ({what} for this space is "
                        f"planned); searchable now: {', '.join(sorted(_DRIVERS))}")
    module, func = _DRIVERS[space].split(":")
    return getattr(importlib.import_module(module), func)


def drivers() -> dict[str, str]:
    return dict(_DRIVERS)


__all__ = ["Driver", "drivers", "get_driver", "register_driver"]
