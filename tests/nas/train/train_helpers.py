"""A tiny model and dataset with the interfaces the trainer relies on, for fast CPU tests.

The model follows the registry conventions (eval: logits; train: {"out", "aux"}; aux heads under
`aux_heads`) and has dropout, so a resume that failed to restore the torch RNG would show. The
dataset's sample i of epoch e is a pure function of (seed, e, i), as nas.data's is.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import Dataset

NUM_CLASSES = 3


class TinySegNet(nn.Module):
    def __init__(self, num_classes: int = NUM_CLASSES, width: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        self.down = nn.Sequential(
            nn.Conv2d(width, width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
        )
        self.drop = nn.Dropout2d(0.1)
        self.head = nn.Conv2d(2 * width, num_classes, 1)
        self.aux_heads = nn.ModuleList([nn.Conv2d(width, num_classes, 1)])

    def forward(self, x: torch.Tensor):
        f1 = self.stem(x)
        f2 = self.down(f1)
        up = F.interpolate(f2, size=f1.shape[-2:], mode="bilinear", align_corners=False)
        logits = self.head(self.drop(torch.cat([f1, up], dim=1)))
        if not self.training:
            return logits
        return {"out": logits, "aux": [self.aux_heads[0](f2)]}  # aux at 1/2 resolution


class TinySegData(Dataset):
    """Learnable synthetic scenes: the class of a pixel is decided by its (smoothed) colour."""

    num_classes = NUM_CLASSES
    class_names = ["road", "car", "sky"]
    ignore_index = 255

    def __init__(self, n: int = 12, hw: tuple[int, int] = (16, 16), seed: int = 0,
                 augment: bool = True) -> None:
        self.n, self.hw, self.seed, self.augment = n, hw, seed, augment
        self.epoch = 0

    def __len__(self) -> int:
        return self.n

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        raw = torch.randn(3, self.hw[0] // 4, self.hw[1] // 4, generator=g)
        image = F.interpolate(raw[None], size=self.hw, mode="bilinear", align_corners=False)[0]
        label = image.argmax(0)
        label[image.abs().amax(0) < 0.15] = 255  # ambiguous pixels are unlabelled
        image = image + 0.1 * torch.randn(image.shape, generator=g)
        if self.augment:
            ga = torch.Generator().manual_seed((self.seed * 7 + self.epoch) * 1_000_003 + i)
            if torch.rand((), generator=ga) < 0.5:
                image, label = image.flip(-1), label.flip(-1)
        return image.float(), label.long()
