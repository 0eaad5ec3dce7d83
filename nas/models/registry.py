"""Registry of named models: `nas train --model NAME`, `nas model info NAME`.

Hand-written baselines (BiSeNetV2, STDC, ...) live one family per module in `nas/models/` and
register with the decorator; search spaces register their presets (arch files) with
`register_model(name, factory=...)`. `create_model` also accepts a path to an arch.json, which the
arch's own space builds.

Convention every model follows (the trainer and the counters rely on it):
- `model(x)` in eval mode returns the logits tensor (N, classes, h, w); `h, w` may be smaller
  than the input (FFNet predicts at 1/4): the caller upsamples to the label size.
- in train mode a model with auxiliary heads returns `{"out": logits, "aux": [logits, ...]}`.
- training-only heads live under a child module named `aux_heads`, so that the inference
  network's parameter count is "every parameter not under aux_heads".
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch.nn as nn

from nas.errors import UserError, unknown_name

ModelFactory = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    """A named model.

    Args:
        name: registry key, e.g. `bisenetv2`, `ffnet78S_BCC_mobile`, `rtseg-m`.
        factory: `factory(num_classes=..., **kw) -> nn.Module`.
        family: what kind of model it is (`bisenetv2`, `ffnet`, `rtseg`, ...).
        input_hw: the input size the paper reports it at; the default for `nas model info`.
        description: one line for listings.
    """

    name: str
    factory: ModelFactory
    family: str
    input_hw: tuple[int, int] = (512, 1024)
    description: str = ""


_MODELS: dict[str, ModelEntry] = {}
_loaded = False


def register_model(
    name: str,
    factory: ModelFactory | None = None,
    *,
    family: str,
    input_hw: tuple[int, int] = (512, 1024),
    description: str = "",
) -> Any:
    """Register `factory` under `name`; usable as a decorator when `factory` is omitted."""

    def add(fn: ModelFactory) -> ModelFactory:
        if name in _MODELS and _MODELS[name].factory is not fn:
            raise ValueError(f"model '{name}' registered twice")
        _MODELS[name] = ModelEntry(name, fn, family, tuple(input_hw), description)  # type: ignore[arg-type]
        return fn

    return add(factory) if factory is not None else add


def _load_all() -> None:
    """Import every model module and every search space, so their registrations run."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import nas.models as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_") and info.name not in ("registry", "counting"):
            importlib.import_module(f"nas.models.{info.name}")
    import search_spaces

    search_spaces.load_all()


def list_models() -> list[ModelEntry]:
    _load_all()
    return [_MODELS[k] for k in sorted(_MODELS)]


def get_entry(name: str) -> ModelEntry:
    _load_all()
    if name not in _MODELS:
        raise unknown_name("model", name, _MODELS)
    return _MODELS[name]


def is_arch_path(name_or_path: str) -> bool:
    return name_or_path.endswith(".json") or Path(name_or_path).is_file()


def create_model(name_or_arch: str, num_classes: int = 19, **kwargs: Any) -> nn.Module:
    """Build a registered model by name, or the network an arch.json describes."""
    if is_arch_path(name_or_arch):
        import search_spaces
        from nas.arch import load_arch

        arch = load_arch(name_or_arch)
        return search_spaces.get(arch["space"]).build(arch, num_classes)
    entry = get_entry(name_or_arch)
    try:
        return entry.factory(num_classes=num_classes, **kwargs)
    except TypeError as err:
        raise UserError(f"model '{name_or_arch}': {err}") from None
