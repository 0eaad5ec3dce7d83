"""Copying kept channels from a supernet layer into a physically smaller layer (Once-for-All).

`idx` tensors are the kept channel indices of a dimension (a gate group's kept set, or all
channels for dimensions that are not searched).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from latency.ops import ConvBNAct


def full(n: int) -> torch.Tensor:
    return torch.arange(n)


@torch.no_grad()
def copy_conv(dst: nn.Conv2d, src: nn.Conv2d, out_idx: torch.Tensor, in_idx: torch.Tensor) -> None:
    """Dense convs slice both dims; depthwise convs (groups == channels) only the output dim."""
    w = src.weight.index_select(0, out_idx)
    if src.groups == 1:
        w = w.index_select(1, in_idx)
    dst.weight.copy_(w)
    if src.bias is not None and dst.bias is not None:
        dst.bias.copy_(src.bias.index_select(0, out_idx))


@torch.no_grad()
def copy_norm(dst: nn.Module, src: nn.Module, idx: torch.Tensor) -> None:
    """BatchNorm (affine + running statistics) or LayerNorm parameters at `idx`."""
    for name in ("weight", "bias", "running_mean", "running_var"):
        s = getattr(src, name, None)
        if s is not None:
            getattr(dst, name).copy_(s.index_select(0, idx))
    if isinstance(src, nn.modules.batchnorm._BatchNorm) and src.num_batches_tracked is not None:
        dst.num_batches_tracked.copy_(src.num_batches_tracked)


def copy_cba(dst: ConvBNAct, src: ConvBNAct, out_idx: torch.Tensor, in_idx: torch.Tensor) -> None:
    copy_conv(dst.conv, src.conv, out_idx, in_idx)
    if isinstance(src.bn, nn.BatchNorm2d):
        copy_norm(dst.bn, src.bn, out_idx)


@torch.no_grad()
def copy_linear(dst: nn.Linear, src: nn.Linear, out_idx: torch.Tensor, in_idx: torch.Tensor) -> None:
    dst.weight.copy_(src.weight.index_select(0, out_idx).index_select(1, in_idx))
    if src.bias is not None:
        dst.bias.copy_(src.bias.index_select(0, out_idx))


def token_idx(idx: torch.Tensor, full_c: int, patch: int) -> torch.Tensor:
    """Kept features of a P*P*C token (layout (P, P, C), channels innermost) from kept channels."""
    return torch.cat([idx + p * full_c for p in range(patch * patch)])
