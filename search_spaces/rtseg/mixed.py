"""The mixed block of the supernet (Fig. 2b): skip, LIR or MHSA, chosen by Gumbel-softmax."""

from __future__ import annotations

import torch
import torch.nn as nn

from search_spaces.rtseg.config import OPS
from search_spaces.rtseg.gates import Masks, argmax_onehot, gumbel_hard
from search_spaces.rtseg.layers import LIR, MHSA


class MixedBlock(nn.Module):
    """g_n = h^s g_{n-1} + h^l g^l_n + h^m g^m_n (RTSeg eq. 7).

    Modes:
        plain: the LIR path always runs (supernet pretraining, and the "full supernet").
        search, training: a hard Gumbel-softmax sample picks one path each step; only that path
            runs, scaled by its straight-through one-hot entry so the logits get a gradient.
        search, eval: the argmax path, combined with tensor ops only (no Python branch on tensor
            values) so the supernet exports to ONNX as it is.
    """

    def __init__(self, lir: LIR, mhsa: MHSA) -> None:
        super().__init__()
        self.lir, self.mhsa = lir, mhsa
        # logits start in favour of LIR (the block pretrained in plain mode), not uniform
        self.logits = nn.Parameter(torch.tensor([0.0, 1.0, 0.0]))
        self.mode = "plain"
        self.tau = 1.0

    def probs(self) -> torch.Tensor:
        """Latency weight of each path: softmax(logits / tau), the Gumbel-softmax temperature.

        Plain softmax(logits) stays spread when a short search leaves the logits close, and the
        expected latency then misses the argmax arch that `derive` keeps (a search that met its
        target in expectation derived an arch predicted 29% slower). Sharpening with the annealed
        tau makes the expectation converge to the derived arch's latency as tau falls.
        """
        return torch.softmax(self.logits / self.tau, dim=0)

    def choice(self) -> str:
        return OPS[int(torch.argmax(self.logits))]

    def forward(self, x: torch.Tensor, masks: Masks = None) -> torch.Tensor:
        if self.mode == "plain":
            return self.lir(x, masks)
        if self.training:
            h = gumbel_hard(self.logits, self.tau)
            i = int(torch.argmax(h.detach()))
            y = x if i == 0 else (self.lir if i == 1 else self.mhsa)(x, masks)
            return y * h[i]
        h = argmax_onehot(self.logits)
        return h[0] * x + h[1] * self.lir(x, masks) + h[2] * self.mhsa(x, masks)
