"""`RoutingSpace`: the dynamic routing space (Li et al., "Learning Dynamic Routing for Semantic
Segmentation", CVPR 2020), registered as `routing`.

The supernet routes each image through its own subset of cells; an arch is a static subset of
routes (e.g. the paper's "common" network, kept in >= 95% of images), built without gates.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, ClassVar

import torch.nn as nn

from search_spaces.base import Arch, Space
from search_spaces.routing import arch as arch_mod
from search_spaces.routing.blocks import routing_blocks
from search_spaces.routing.static import RoutingNet, inherit_weights
from search_spaces.routing.supernet import RoutingSupernet
from search_spaces.routing.topology import PRESET_LAYERS, Topology

if TYPE_CHECKING:
    from latency.blocks import BlockSpec

DEFAULT_NUM_CLASSES = 19


class RoutingSpace(Space):
    """Routes between cells at strides 4..32 over L layers, chosen per image by soft gates.

    Size options (`supernet`, `sample`): `preset` ("layer16"/"layer33"), `num_layers`,
    `width_mult` or `base_channels`, `strides`; the supernet also takes `small_gate`, `gate_bias`.
    """

    name: ClassVar[str] = arch_mod.SPACE

    def validate(self, arch: Arch) -> Arch:
        self.check_space(arch)
        return arch_mod.validate(arch)

    def sample(self, rng: random.Random, **cfg: Any) -> Arch:
        topo, _ = arch_mod.parse_cfg(cfg)
        return arch_mod.sample(rng, topo)

    def small_cfg(self) -> dict[str, Any]:
        """4 layers at width 8: every kind of cell and route, a few milliseconds per forward."""
        return {"num_layers": 4, "width_mult": 0.125}

    def presets(self) -> dict[str, Arch]:
        """Layer16 / Layer33 with every route kept (the supernet with every gate open)."""
        return {name: arch_mod.full_arch(Topology(n)) for name, n in PRESET_LAYERS.items()}

    def supernet(self, num_classes: int, **cfg: Any) -> RoutingSupernet:
        topo, gate = arch_mod.parse_cfg(cfg)
        return RoutingSupernet(topo, num_classes, **gate)

    def build(self, arch: Arch, num_classes: int) -> nn.Module:
        return RoutingNet(self.validate(arch), num_classes)

    def inherit(self, subnet: nn.Module, supernet: nn.Module, arch: Arch) -> None:
        arch = self.validate(arch)
        if not isinstance(subnet, RoutingNet) or subnet.routes != arch["routes"]:
            raise ValueError("inherit: subnet was not built from this arch")
        inherit_weights(subnet, supernet)

    def blocks(
        self, arch: Arch, input_hw: tuple[int, int], num_classes: int = DEFAULT_NUM_CLASSES,
    ) -> list[BlockSpec]:
        """Latency blocks at `input_hw`; `num_classes` sizes the classifier (Cityscapes: 19)."""
        hw = (int(input_hw[0]), int(input_hw[1]))
        return routing_blocks(self.validate(arch), hw, num_classes)
