"""Search spaces, registered by name: `search_spaces.get("rtseg")`.

Each space is a sub-package (`rtseg/`, `ffnet/`, `routing/`) whose `__init__` registers a `Space`
instance with `register_space`. `load_all()` imports every sub-package so the registry is full.
"""

from __future__ import annotations

import importlib
import pkgutil

from nas.errors import unknown_name
from search_spaces.base import Arch, Space

_SPACES: dict[str, Space] = {}
_loaded = False


def register_space(space: Space) -> Space:
    if space.name in _SPACES and _SPACES[space.name] is not space:
        raise ValueError(f"space '{space.name}' registered twice")
    _SPACES[space.name] = space
    return space


def load_all() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for info in pkgutil.iter_modules(__path__):
        if info.ispkg:
            importlib.import_module(f"{__name__}.{info.name}")


def get(name: str) -> Space:
    load_all()
    if name not in _SPACES:
        raise unknown_name("space", name, _SPACES)
    return _SPACES[name]


def names() -> list[str]:
    load_all()
    return sorted(_SPACES)


__all__ = ["Arch", "Space", "get", "load_all", "names", "register_space"]
