"""The RTSeg search space ("Towards Real-Time Segmentation on the Edge", Li et al.).

Registers the space `rtseg`, its block ops (`rtseg_stem`, `rtseg_down`, `lir`, `mhsa`,
`rtseg_ce`, `bga`, `rtseg_head`) and the models `rtseg-s`, `rtseg-m`, `rtseg-l` (arch presets
in presets/) and `rtseg-supernet` (the full supernet as a plain network: all channels, LIR in
every mixed block).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch.nn as nn

from nas.models.registry import register_model
from search_spaces import register_space
from search_spaces.rtseg import blocks as _blocks  # noqa: F401  (registers the block ops)
from search_spaces.rtseg.config import channel_groups, mixed_blocks, resolve
from search_spaces.rtseg.space import RTSegSpace
from search_spaces.rtseg.supernet import RTSegSupernet

SPACE = register_space(RTSegSpace())

_PAPER = {
    "rtseg-s": "RTSeg-S searched arch (paper: 2.69M params, 5.7 GMACs at 512x1024)",
    "rtseg-m": "RTSeg-M searched arch (paper: 3.56M params, 9.2 GMACs at 512x1024)",
    "rtseg-l": "RTSeg-L searched arch (paper: 5.55M params, 20.8 GMACs at 512x1024)",
}


def full_arch(**cfg: Any) -> dict[str, Any]:
    """The whole supernet as an arch: every channel, LIR in every mixed block."""
    supernet, config = resolve(dict(cfg), field="cfg")
    return {"space": "rtseg", "supernet": supernet,
            "ops": {s: ["lir"] * n for s, n in mixed_blocks(config).items()},
            "channels": channel_groups(config)}


def _preset_factory(name: str) -> Callable[..., nn.Module]:
    def factory(num_classes: int = 19) -> nn.Module:
        return SPACE.build(SPACE.presets()[name], num_classes)

    return factory


def _supernet_factory(num_classes: int = 19, **cfg: Any) -> nn.Module:
    return SPACE.build(full_arch(**cfg), num_classes)


for _name, _desc in _PAPER.items():
    register_model(_name, factory=_preset_factory(_name), family="rtseg", input_hw=(512, 1024),
                   description=_desc)
register_model("rtseg-supernet", factory=_supernet_factory, family="rtseg",
               input_hw=(512, 1024),
               description="RTSeg supernet as a plain network (paper: 24.43M, 136.0 GMACs)")

__all__ = ["SPACE", "RTSegSpace", "RTSegSupernet", "full_arch"]
