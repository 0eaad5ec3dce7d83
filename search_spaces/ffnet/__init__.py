"""FFNet search space: `search_spaces.get("ffnet")`, and the paper's models as named presets.

Importing this package registers the space, its block ops (`basic`, `bottleneck`,
`ffnet_maxpool`, `ffnet_upadd`, `ffnet_upcat`) and every Table 2-4 model with the model registry
(`nas.models.create_model("ffnet78S_BCC_mobile")`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn

from nas.models import register_model
from search_spaces import register_space
from search_spaces.ffnet.arch import validate_arch
from search_spaces.ffnet.network import FFNet
from search_spaces.ffnet.presets import PRESETS, Preset
from search_spaces.ffnet.space import FFNetSpace

SPACE = register_space(FFNetSpace())


def _preset_factory(preset: Preset) -> Callable[..., nn.Module]:
    """A factory that builds the preset; the arch is validated once, at import."""
    arch = validate_arch(preset.arch)

    def factory(num_classes: int = 19) -> nn.Module:
        return FFNet(arch, num_classes)

    factory.__doc__ = preset.description
    return factory


for _preset in PRESETS.values():
    register_model(
        _preset.name, factory=_preset_factory(_preset), family="ffnet",
        input_hw=_preset.input_hw, description=_preset.description,
    )

__all__ = ["FFNet", "FFNetSpace", "PRESETS", "SPACE"]
