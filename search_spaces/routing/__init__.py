"""The dynamic routing search space (`search_spaces.get("routing")`) and its named models.

Models: `routing-layer16`, `routing-layer33` (full gates) and `-small-gate` variants: the gated
supernets of the paper, dynamic at inference (see `supernet.py`).
"""

from __future__ import annotations

import torch.nn as nn

from nas.models import register_model
from search_spaces import register_space
from search_spaces.routing.space import RoutingSpace
from search_spaces.routing.supernet import RoutingSupernet

SPACE = register_space(RoutingSpace())


def _register_presets() -> None:
    for preset in ("layer16", "layer33"):
        for small in (False, True):
            name = f"routing-{preset}" + ("-small-gate" if small else "")

            def factory(num_classes: int = 19, *, _p: str = preset, _s: bool = small,
                        **cfg: object) -> nn.Module:
                return SPACE.supernet(num_classes, preset=_p, small_gate=_s, **cfg)

            gate = "small gates (x0.25 input)" if small else "full gates"
            register_model(
                name, factory, family="routing", input_hw=(1024, 2048),
                description=f"Dynamic routing {preset.capitalize()} supernet, {gate}",
            )


_register_presets()

__all__ = ["SPACE", "RoutingSpace", "RoutingSupernet"]
