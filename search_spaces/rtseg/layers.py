"""The building blocks of RTSeg (Fig. 1-2): stem, down block, LIR, MHSA, context embedding, BGA,
decoder head.

Every block is used three ways: at full width with masks inside the supernet, at pruned width
inside a built subnet (masks None), and alone as a latency block (`forward(x)`). Each block names
the gate groups of its channels and can `inherit_from` the same block at full width, given the
kept indices per group.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from latency.ops import ConvBNAct
from search_spaces.rtseg.gates import Masks, gate, masked_layer_norm
from search_spaces.rtseg.slicing import copy_cba, copy_conv, copy_linear, copy_norm, full, token_idx

Idx = dict[str, torch.Tensor]


def _resize(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


def _global_pool(x: torch.Tensor) -> torch.Tensor:
    """Global average pooling as an AveragePool over the whole map: `mean` becomes ReduceMean-18,
    which the dynamo exporter cannot convert down to opset 17."""
    return F.avg_pool2d(x, kernel_size=(int(x.shape[-2]), int(x.shape[-1])))


class Stem(nn.Module):
    """BiSeNet stem to H/4: a stride-2 conv, then a conv path and a max-pool path, concatenated."""

    def __init__(self, cin: int, c0: int, l1: int, l2: int, cout: int) -> None:
        super().__init__()
        self.conv = ConvBNAct(cin, c0, 3, 2)
        self.left1 = ConvBNAct(c0, l1, 1)
        self.left2 = ConvBNAct(l1, l2, 3, 2)
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.fuse = ConvBNAct(l2 + c0, cout, 3)

    def forward(self, x: torch.Tensor, masks: Masks = None) -> torch.Tensor:
        x = gate(self.conv(x), masks, "stem_conv")
        left = gate(self.left2(gate(self.left1(x), masks, "stem_left1")), masks, "stem_left2")
        return gate(self.fuse(torch.cat([left, self.pool(x)], 1)), masks, "stem_out")

    def inherit_from(self, src: Stem, idx: Idx) -> None:
        c0, l1, l2 = idx["stem_conv"], idx["stem_left1"], idx["stem_left2"]
        copy_cba(self.conv, src.conv, c0, full(3))
        copy_cba(self.left1, src.left1, l1, c0)
        copy_cba(self.left2, src.left2, l2, l1)
        cat = torch.cat([l2, c0 + src.left2.conv.out_channels])  # concat: [left2, pool(conv)]
        copy_cba(self.fuse, src.fuse, idx["stem_out"], cat)


class DownBlock(nn.Module):
    """Stride-2 gather-expand block (Fig. 2a): 3x3 expand, depthwise 3x3 s2, 1x1 project, plus
    a depthwise s2 + 1x1 shortcut; sum and ReLU."""

    def __init__(self, cin: int, hidden: int, cout: int, g_in: str, g_hidden: str, g_out: str):
        super().__init__()
        self.g_in, self.g_hidden, self.g_out = g_in, g_hidden, g_out
        self.gather = ConvBNAct(cin, hidden, 3)
        self.dw = ConvBNAct(hidden, hidden, 3, 2, groups=hidden, act=False)
        self.project = ConvBNAct(hidden, cout, 1, act=False)
        self.short_dw = ConvBNAct(cin, cin, 3, 2, groups=cin, act=False)
        self.short_pw = ConvBNAct(cin, cout, 1, act=False)

    def forward(self, x: torch.Tensor, masks: Masks = None) -> torch.Tensor:
        y = gate(self.gather(x), masks, self.g_hidden)
        y = gate(self.project(gate(self.dw(y), masks, self.g_hidden)), masks, self.g_out)
        s = gate(self.short_pw(gate(self.short_dw(x), masks, self.g_in)), masks, self.g_out)
        return F.relu(y + s)

    def inherit_from(self, src: DownBlock, idx: Idx) -> None:
        i, h, o = idx[self.g_in], idx[self.g_hidden], idx[self.g_out]
        copy_cba(self.gather, src.gather, h, i)
        copy_cba(self.dw, src.dw, h, h)
        copy_cba(self.project, src.project, o, h)
        copy_cba(self.short_dw, src.short_dw, i, i)
        copy_cba(self.short_pw, src.short_pw, o, i)


class LIR(nn.Module):
    """Lightweight inverted residual (Fig. 2b): 1x1 expand, depthwise 3x3, 1x1 project, residual.

    RTSeg replaces BiSeNet's group conv with consecutive 1x1 + depthwise convs.
    """

    def __init__(self, c: int, hidden: int, g_c: str, g_hidden: str) -> None:
        super().__init__()
        self.g_c, self.g_hidden = g_c, g_hidden
        self.expand = ConvBNAct(c, hidden, 1)
        self.dw = ConvBNAct(hidden, hidden, 3, groups=hidden)
        self.project = ConvBNAct(hidden, c, 1, act=False)

    def forward(self, x: torch.Tensor, masks: Masks = None) -> torch.Tensor:
        y = gate(self.expand(x), masks, self.g_hidden)
        y = gate(self.dw(y), masks, self.g_hidden)
        return x + gate(self.project(y), masks, self.g_c)

    def inherit_from(self, src: LIR, idx: Idx) -> None:
        c, h = idx[self.g_c], idx[self.g_hidden]
        copy_cba(self.expand, src.expand, h, c)
        copy_cba(self.dw, src.dw, h, h)
        copy_cba(self.project, src.project, c, h)


class MHSA(nn.Module):
    """Patchified multi-head self-attention (Fig. 2b, eq. 1-2): (B, C, H, W) -> (B, N, P*P*C)
    tokens, pre-LayerNorm attention and MLP with residuals (as ViT), then back to 4-D.

    Patchify is reshape/permute only (ONNX-friendly); sizes not divisible by P are zero-padded.
    The attention width is fixed; the residual channels and the MLP hidden width are searched.
    """

    def __init__(
        self, c: int, attn: int, mlp: int, heads: int, patch: int, g_c: str, g_mlp: str
    ) -> None:
        super().__init__()
        self.g_c, self.g_mlp = g_c, g_mlp
        self.c, self.heads, self.patch, self.attn = c, heads, patch, attn
        self.scale = 1.0 / math.sqrt(attn // heads)
        dim = patch * patch * c
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * attn)
        self.proj = nn.Linear(attn, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp)
        self.fc2 = nn.Linear(mlp, dim)

    def _token_mask(self, masks: Masks, group: str) -> torch.Tensor | None:
        return None if masks is None else masks[group].repeat(self.patch * self.patch)

    def forward(self, x: torch.Tensor, masks: Masks = None) -> torch.Tensor:
        b, c, h, w = x.shape
        p = self.patch
        ph, pw = (-h) % p, (-w) % p
        if ph:  # zero-pad to a multiple of P (concat, not Pad: exports to opset 17 either way)
            x = torch.cat([x, x.new_zeros(b, c, ph, w)], 2)
        if pw:
            x = torch.cat([x, x.new_zeros(b, c, h + ph, pw)], 3)
        hp, wp = (h + ph) // p, (w + pw) // p
        t = x.reshape(b, c, hp, p, wp, p).permute(0, 2, 4, 3, 5, 1).reshape(b, hp * wp, p * p * c)
        m = self._token_mask(masks, self.g_c)
        y = masked_layer_norm(t, m, self.norm1)
        qkv, a = self.qkv(y), self.attn  # eq. 2; slices, not chunk: Split-18 won't go to 17
        q, k, v = qkv[..., :a], qkv[..., a:2 * a], qkv[..., 2 * a:]
        q, k, v = (z.reshape(b, hp * wp, self.heads, -1).transpose(1, 2) for z in (q, k, v))
        att = torch.softmax(q @ k.transpose(-2, -1) * self.scale, dim=-1)  # eq. 1
        y = (att @ v).transpose(1, 2).reshape(b, hp * wp, -1)
        y = self.proj(y)
        t = t + (y if m is None else y * m)
        y = masked_layer_norm(t, m, self.norm2)
        y = F.gelu(self.fc1(y))
        if masks is not None:
            y = y * masks[self.g_mlp]
        y = self.fc2(y)
        t = t + (y if m is None else y * m)
        x = t.reshape(b, hp, wp, p, p, c).permute(0, 5, 1, 3, 2, 4).reshape(b, c, hp * p, wp * p)
        return x[:, :, :h, :w] if (ph or pw) else x

    def inherit_from(self, src: MHSA, idx: Idx) -> None:
        tok = token_idx(idx[self.g_c], src.c, self.patch)
        attn, mlp = full(src.proj.in_features), idx[self.g_mlp]
        copy_norm(self.norm1, src.norm1, tok)
        copy_norm(self.norm2, src.norm2, tok)
        copy_linear(self.qkv, src.qkv, full(src.qkv.out_features), tok)
        copy_linear(self.proj, src.proj, tok, attn)
        copy_linear(self.fc1, src.fc1, mlp, tok)
        copy_linear(self.fc2, src.fc2, tok, mlp)


class ContextEmbedding(nn.Module):
    """BiSeNetV2 context embedding: global pooling, BN, 1x1 conv, broadcast add, 3x3 conv."""

    def __init__(self, c: int, cout: int, g_in: str, g_out: str) -> None:
        super().__init__()
        self.g_in, self.g_out = g_in, g_out
        self.bn = nn.BatchNorm2d(c)
        self.pw = ConvBNAct(c, c, 1)
        self.out = ConvBNAct(c, cout, 3)

    def forward(self, x: torch.Tensor, masks: Masks = None) -> torch.Tensor:
        g = gate(self.bn(_global_pool(x)), masks, self.g_in)
        g = gate(self.pw(g), masks, self.g_in)
        return gate(self.out(x + g), masks, self.g_out)

    def inherit_from(self, src: ContextEmbedding, idx: Idx) -> None:
        i = idx[self.g_in]
        copy_norm(self.bn, src.bn, i)
        copy_cba(self.pw, src.pw, i, i)
        copy_cba(self.out, src.out, idx[self.g_out], i)


class BGA(nn.Module):
    """Bilateral guided aggregation (BiSeNetV2): each branch gates the other through a sigmoid
    attention map at its own resolution; the sum goes through a 3x3 conv."""

    def __init__(
        self, cd: int, cs: int, mid: int, cout: int, g_d: str, g_s: str,
        g_mid: str = "bga_mid", g_out: str = "bga_out",
    ) -> None:
        super().__init__()
        self.g_d, self.g_s, self.g_mid, self.g_out = g_d, g_s, g_mid, g_out
        self.d_dw = ConvBNAct(cd, cd, 3, groups=cd, act=False)
        self.d_pw = nn.Conv2d(cd, mid, 1, bias=False)
        self.d_down = ConvBNAct(cd, mid, 3, 2, act=False)
        self.pool = nn.AvgPool2d(3, 2, 1)
        self.s_conv = ConvBNAct(cs, mid, 3, act=False)
        self.s_dw = ConvBNAct(cs, cs, 3, groups=cs, act=False)
        self.s_pw = nn.Conv2d(cs, mid, 1, bias=False)
        self.fuse = ConvBNAct(mid, cout, 3)

    def forward(self, d: torch.Tensor, s: torch.Tensor, masks: Masks = None) -> torch.Tensor:
        d_keep = self.d_pw(gate(self.d_dw(d), masks, self.g_d))
        d_low = self.pool(self.d_down(d))
        s_up = torch.sigmoid(_resize(self.s_conv(s), d_keep))
        s_keep = torch.sigmoid(self.s_pw(gate(self.s_dw(s), masks, self.g_s)))
        fused = d_keep * s_up + _resize(d_low * s_keep, d_keep)
        return gate(self.fuse(gate(fused, masks, self.g_mid)), masks, self.g_out)

    def inherit_from(self, src: BGA, idx: Idx) -> None:
        d, s, m = idx[self.g_d], idx[self.g_s], idx[self.g_mid]
        copy_cba(self.d_dw, src.d_dw, d, d)
        copy_conv(self.d_pw, src.d_pw, m, d)
        copy_cba(self.d_down, src.d_down, m, d)
        copy_cba(self.s_conv, src.s_conv, m, s)
        copy_cba(self.s_dw, src.s_dw, s, s)
        copy_conv(self.s_pw, src.s_pw, m, s)
        copy_cba(self.fuse, src.fuse, idx[self.g_out], m)


class SegHead(nn.Module):
    """Light decoder: 3x3 conv, 1x1 classifier, bilinear upsampling to the input size.

    Used for the main output and for the auxiliary heads. `out_hw` is the size to upsample to
    when `forward` is not told one (the head profiled alone).
    """

    def __init__(
        self, cin: int, mid: int, classes: int, g_in: str, g_mid: str | None,
        out_hw: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.g_in, self.g_mid, self.out_hw = g_in, g_mid, out_hw
        self.conv = ConvBNAct(cin, mid, 3)
        self.cls = nn.Conv2d(mid, classes, 1, bias=True)

    def forward(
        self, x: torch.Tensor, masks: Masks = None, size: tuple[int, int] | None = None
    ) -> torch.Tensor:
        y = self.cls(gate(self.conv(x), masks, self.g_mid))
        size = size if size is not None else self.out_hw
        if size is None:
            return y
        return F.interpolate(y, size=size, mode="bilinear", align_corners=False)

    def inherit_from(self, src: SegHead, idx: Idx) -> None:
        mid = idx[self.g_mid] if self.g_mid else full(src.conv.conv.out_channels)
        copy_cba(self.conv, src.conv, mid, idx[self.g_in])
        copy_conv(self.cls, src.cls, full(src.cls.out_channels), mid)
