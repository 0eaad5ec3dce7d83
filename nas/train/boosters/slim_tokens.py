"""Slimmable RTSeg MHSA: its LayerNorms and Linears at every width, as `build(uniform_arch)`
has them.

An MHSA block works on P*P*C tokens laid out (P, P, C), channels innermost. At width w the block
receives C' = round(w*C) channels, so a token holds the first C' channels of every patch position:
features `token_idx(range(C'), C, P)`, not the first P*P*C' features. The norms and the Linears
that read or write tokens are sliced at those features; the MLP hidden width is slimmed like a
conv's output (first round(w*H)); the attention width stays full (RTSeg does not search it).
That is exactly the block `build` makes from the uniform slimming of the arch, with the weights
`inherit` would copy, so each extracted width loads into `space.build(uniform_arch(arch, w))`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

Token = tuple[int, int]  # (C, P) of a P*P*C token side


def _slim(n: int, width: float) -> int:
    from nas.train.boosters.slimmable import slim_count

    return slim_count(n, width)


def _token_features(c_active: int, token: Token, device: torch.device) -> torch.Tensor:
    full_c, patch = token
    base = torch.arange(c_active, device=device)
    return torch.cat([base + p * full_c for p in range(patch * patch)])  # (P, P, C) layout


class SlimTokenLinear(nn.Linear):
    """A Linear of a slimmable MHSA (see the module docstring).

    Args:
        in_token / out_token: (C, P) when that side is a token, else None.
        keep_out: a non-token output that stays full width (the qkv projection).
    """

    width: float = 1.0

    def __init__(self, linear: nn.Linear, *, in_token: Token | None = None,
                 out_token: Token | None = None, keep_out: bool = False) -> None:
        super().__init__(linear.in_features, linear.out_features, linear.bias is not None)
        self.load_state_dict(linear.state_dict())
        self.in_token, self.out_token, self.keep_out = in_token, out_token, keep_out

    def indices(self, fin: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(output features, input features) used when `fin` features arrive."""
        dev = self.weight.device
        if self.in_token is not None:
            in_idx = _token_features(fin // (self.in_token[1] ** 2), self.in_token, dev)
        else:
            in_idx = torch.arange(fin, device=dev)
        if self.out_token is not None:
            out_idx = _token_features(_slim(self.out_token[0], self.width), self.out_token, dev)
        elif self.keep_out:
            out_idx = torch.arange(self.out_features, device=dev)
        else:
            out_idx = torch.arange(_slim(self.out_features, self.width), device=dev)
        return out_idx, in_idx

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out_idx, in_idx = self.indices(int(x.shape[-1]))
        weight = self.weight.index_select(0, out_idx).index_select(1, in_idx)
        bias = self.bias.index_select(0, out_idx) if self.bias is not None else None
        return F.linear(x, weight, bias)

    @torch.no_grad()
    def plain(self, fin: int) -> nn.Linear:
        """The plain Linear this layer is when `fin` features arrive."""
        out_idx, in_idx = self.indices(fin)
        out = nn.Linear(len(in_idx), len(out_idx), self.bias is not None)
        out.weight.copy_(self.weight.index_select(0, out_idx).index_select(1, in_idx))
        if self.bias is not None:
            out.bias.copy_(self.bias.index_select(0, out_idx))
        return out


class SlimTokenNorm(nn.LayerNorm):
    """The LayerNorm of a slimmable MHSA: normalises the token features that arrive, with the
    affine parameters of those features (shared by all widths: LayerNorm keeps no statistics)."""

    def __init__(self, norm: nn.LayerNorm, token: Token) -> None:
        super().__init__(norm.normalized_shape, norm.eps, norm.elementwise_affine)
        self.load_state_dict(norm.state_dict())
        self.token = token

    def indices(self, fin: int) -> torch.Tensor:
        return _token_features(fin // (self.token[1] ** 2), self.token, self.weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idx = self.indices(int(x.shape[-1]))
        return F.layer_norm(x, (len(idx),), self.weight.index_select(0, idx),
                            self.bias.index_select(0, idx), self.eps)

    @torch.no_grad()
    def plain(self, fin: int) -> nn.LayerNorm:
        idx = self.indices(fin)
        out = nn.LayerNorm(len(idx), self.eps)
        out.weight.copy_(self.weight.index_select(0, idx))
        out.bias.copy_(self.bias.index_select(0, idx))
        return out


def slim_mhsa(block: nn.Module) -> None:
    """Make one RTSeg MHSA block slimmable in place (parameter names unchanged)."""
    token: Token = (int(vars(block)["c"]), int(vars(block)["patch"]))
    for name in ("norm1", "norm2"):
        setattr(block, name, SlimTokenNorm(getattr(block, name), token))
    sides: dict[str, dict[str, Any]] = {
        "qkv": {"in_token": token, "keep_out": True},  # the attention width is not searched
        "proj": {"out_token": token},
        "fc1": {"in_token": token},  # the MLP hidden width slims like a conv's output
        "fc2": {"out_token": token},
    }
    for name, kw in sides.items():
        setattr(block, name, SlimTokenLinear(getattr(block, name), **kw))


def is_mhsa(module: nn.Module) -> bool:
    from search_spaces.rtseg.layers import MHSA

    return isinstance(module, MHSA)
