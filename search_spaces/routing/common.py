"""The "common" network of the paper: routes kept in >= 95% of the images of a dataset.

Dynamic inference runs image by image over the data; the supernet counts how often each route
ran, and `derive(threshold)` lists the routes that ran often enough. The result is a static arch
that `build` turns into a plain network (no gates) and `inherit` fills from the supernet.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from search_spaces.base import Arch
from search_spaces.routing.dynamic import run_image
from search_spaces.routing.supernet import RoutingSupernet

COMMON_THRESHOLD = 0.95


@dataclass(frozen=True)
class RoutingStats:
    """What dynamic inference did over a dataset.

    Args:
        arch: the common network (routes that ran in >= threshold of the images).
        images: how many images were run.
        gmacs: executed GMACs per image (convs that really ran, gates included).
    """

    arch: Arch
    images: int
    gmacs: list[float]

    @property
    def gmacs_mean(self) -> float:
        return sum(self.gmacs) / max(1, len(self.gmacs))


def _single_images(data: Iterable[Any]) -> Iterator[torch.Tensor]:
    """One `(1, 3, H, W)` tensor at a time from images, batches or (image, mask) pairs."""
    for item in data:
        img = item[0] if isinstance(item, (tuple, list)) else item
        if img.dim() == 3:
            img = img.unsqueeze(0)
        yield from img.split(1)


def common_network(
    net: RoutingSupernet, data: Iterable[Any], threshold: float = COMMON_THRESHOLD,
) -> RoutingStats:
    """Run every image dynamically, one at a time; derive the common network from the routes
    that ran in >= `threshold` of them.

    Args:
        net: the trained supernet (its BN statistics are used: eval mode).
        data: images `(3, H, W)`, batches `(N, 3, H, W)` or `(images, masks)` pairs (a loader).
        threshold: share of images a route must run in (paper: 95%).
    """
    net.reset_usage()
    gmacs = []
    for img in _single_images(data):
        _, rec = run_image(net, img)
        gmacs.append((rec.macs or 0) / 1e9)
    return RoutingStats(net.derive(threshold), len(gmacs), gmacs)
