"""Network-aware fine-tuning of the MLP and its network correction, jointly.

The MLP is first fitted on blocks alone and the correction on training networks afterwards, so
neither stage sees the error the search cares about: a network is the corrected *sum* of many
block predictions, and small per-block biases of one op add up there while the block loss
barely notices them. This stage minimises, over the training split only,

    mean_blocks (log S(x) - log ms)^2  +  w * mean_networks (log C(S, N) - log ms_net)^2
      + w * ridge / n_networks * (|b - 1|^2 + |c|^2)

with S the MLP, C the per-op correction (latency/predictors/correction.py, same prior as its
closed-form fit). Both terms are relative errors, so a block and a network weigh the same
whatever their size. Every piece is the same torch algebra `MLPPredictor.expected` uses, so
`expected()` and `predict_network` stay equal for hard blocks.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn as nn

from latency.blocks import BlockSpec

if TYPE_CHECKING:
    from latency.predictors.mlp import MLPPredictor


def _network_tensors(mlp: MLPPredictor, nets: list[list[BlockSpec]]
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                torch.Tensor]:
    """Distinct network blocks' features, each flat block's row in them, its (network, op)
    cell in the per-op sums, whether its op has coefficients, and the count matrix N."""
    assert mlp.schema is not None
    corr = mlp.correction
    flat = [b for n in nets for b in n]
    rows: dict[Any, int] = {}
    distinct: list[BlockSpec] = []
    index = np.empty(len(flat), dtype=np.int64)
    for i, b in enumerate(flat):
        key = b.key()
        if key not in rows:
            rows[key] = len(distinct)
            distinct.append(b)
        index[i] = rows[key]
    seg = np.repeat(np.arange(len(nets)), [len(n) for n in nets])
    col = corr.op_index([b.op_key for b in flat])
    k = len(corr.ops)
    known = col >= 0
    cell = np.where(known, seg * k + np.maximum(col, 0), seg)
    counts = np.bincount(cell[known], minlength=len(nets) * k).reshape(len(nets), k)
    x = torch.from_numpy(mlp.schema.encode(distinct))
    return (x, torch.from_numpy(index), torch.from_numpy(cell), torch.from_numpy(known),
            torch.from_numpy(counts.astype(np.float32)))


def finetune_on_networks(
    mlp: MLPPredictor,
    specs: list[BlockSpec],
    ms: np.ndarray,
    nets: list[list[BlockSpec]],
    measured: np.ndarray,
    *,
    weight: float,
    epochs: int,
    lr: float,
) -> dict[str, float]:
    """Fine-tune `mlp.net` and `mlp.correction` in place on training blocks and networks.

    Args:
        weight: w, the network term's weight against the block term.
        epochs: passes over the training blocks (every step also sees every training network).
        lr: peak learning rate of Adam (cosine decay to 0), for weights and coefficients alike.

    Returns:
        the training networks' log-RMSE and the blocks' before and after (report figures).
    """
    assert mlp.schema is not None and mlp.net is not None
    corr = mlp.correction
    k = len(corr.ops)
    xb = torch.from_numpy(mlp.schema.encode(specs))
    yb = torch.from_numpy(np.log(ms)).float()
    xn, index, cell, known, counts = _network_tensors(mlp, nets)
    yn = torch.from_numpy(np.log(measured)).float()
    n_nets = len(nets)

    net = copy.deepcopy(mlp.net)
    for p in net.parameters():
        p.requires_grad_(True)
    a = torch.tensor(corr.a, dtype=torch.float32, requires_grad=True)
    b = torch.tensor(corr.b, dtype=torch.float32, requires_grad=True)
    c = torch.tensor(corr.c, dtype=torch.float32, requires_grad=True)
    ratio = float(corr.ratio)

    def log_ms(x: torch.Tensor) -> torch.Tensor:
        return mlp.y_mean + mlp.y_scale * net((x - mlp.x_mean) / mlp.x_scale).squeeze(1)

    def network_log_ms() -> torch.Tensor:
        block = torch.exp(log_ms(xn))[index]
        s = torch.zeros(n_nets * k).index_add(0, cell[known], block[known]).view(n_nets, k)
        rest = torch.zeros(n_nets).index_add(0, cell[~known], block[~known])
        out = a + s @ b + counts @ c + ratio * rest
        return torch.log(torch.maximum(out, 0.1 * (s.sum(1) + rest)))  # correction.apply floor

    def losses() -> tuple[float, float]:
        with torch.no_grad():
            return (float(((log_ms(xb) - yb) ** 2).mean().sqrt()),
                    float(((network_log_ms() - yn) ** 2).mean().sqrt()))

    before = losses()
    gen = torch.Generator().manual_seed(mlp.seed + 1)
    opt = torch.optim.Adam([{"params": list(net.parameters()), "weight_decay": mlp.weight_decay},
                            {"params": [a, b, c], "weight_decay": 0.0}], lr=lr)
    n = len(xb)
    total = max(1, epochs * -(-n // mlp.batch_size))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + np.cos(np.pi * min(s, total) / total)))
    ridge = corr.ridge / max(n_nets, 1)
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, mlp.batch_size):
            idx = perm[i:i + mlp.batch_size]
            block_loss = nn.functional.mse_loss(log_ms(xb[idx]), yb[idx])
            net_loss = nn.functional.mse_loss(network_log_ms(), yn)
            prior = ((b - 1.0) ** 2).sum() + (c ** 2).sum()
            loss = block_loss + weight * (net_loss + ridge * prior)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    after = losses()
    mlp.net = net
    corr.a = float(a.detach())
    corr.b = b.detach().double().numpy().copy()
    corr.c = c.detach().double().numpy().copy()
    return {"block_log_rmse_before": before[0], "network_log_rmse_before": before[1],
            "block_log_rmse_after": after[0], "network_log_rmse_after": after[1]}
