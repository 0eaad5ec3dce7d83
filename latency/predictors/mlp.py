"""The RTSeg latency model: 5 fully connected layers with ReLU on block features -> log ms.

RTSeg ("Latency-Aware Constraints") trains "a multi-layer perceptron (MLP) model with 5 fully
connected layers and ReLU functions" on measured candidate blocks and sums its block predictions
in the latency loss (paper eq. 9). We regress *log* latency on standardised features so the loss
is a relative error: blocks span four orders of magnitude and a 0.01 ms block matters to the
ranking as much as a 10 ms one in relative terms.

With training networks, a last stage fine-tunes the MLP and the network correction jointly on
blocks and networks (latency/predictors/network_fit.py), so per-op biases that add up over a
network's blocks are paid for where the search sees them.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from latency.blocks import BlockSpec, SoftBlock
from latency.predictors.base import Predictor, register_predictor
from latency.predictors.network_fit import finetune_on_networks


def make_mlp(n_in: int, hidden: tuple[int, ...]) -> nn.Sequential:
    """len(hidden) + 1 Linear layers with ReLU between them (5 layers for 4 hidden widths)."""
    layers: list[nn.Module] = []
    width = n_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def _frozen(net: nn.Sequential) -> nn.Sequential:
    """Eval mode, no parameter grads: the search's latency loss must not train the predictor."""
    for p in net.parameters():
        p.grad = None
        p.requires_grad_(False)
    return net.eval()


@register_predictor
class MLPPredictor(Predictor):
    """RTSeg's 5-layer MLP latency model.

    Args:
        hidden: widths of the 4 hidden layers (5 Linear layers in all).
        epochs: passes over the training blocks.
        batch_size: minibatch size of Adam.
        lr: peak learning rate (cosine decay to 0).
        weight_decay: AdamW decoupled weight decay.
        network_weight: weight of the training networks' log error against the blocks' in the
            joint fine-tuning; 0 skips that stage.
        network_epochs: passes over the training blocks of the joint fine-tuning.
        network_lr: its peak learning rate.
    """

    kind = "mlp"

    def __init__(
        self,
        *,
        device: str = "",
        seed: int = 0,
        hidden: tuple[int, ...] = (64, 64, 32, 16),
        epochs: int = 300,
        batch_size: int = 256,
        lr: float = 3e-3,
        weight_decay: float = 1e-5,
        network_weight: float = 1.0,
        network_epochs: int = 100,
        network_lr: float = 1e-3,
    ) -> None:
        super().__init__(device=device, seed=seed)
        self.hidden = tuple(hidden)
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.network_weight, self.network_epochs = network_weight, network_epochs
        self.network_lr = network_lr
        self.net: nn.Sequential | None = None
        # Normalisation: x_std = (x - x_mean) / x_scale; log ms = y_mean + y_scale * net(x_std).
        self.x_mean = torch.zeros(0)
        self.x_scale = torch.ones(0)
        self.y_mean = 0.0
        self.y_scale = 1.0

    # ----------------------------------------------------------------------- fitting
    def _fit_blocks(self, specs: list[BlockSpec], ms: np.ndarray) -> None:
        # Minibatches of a tiny MLP gain nothing from intra-op threads, and on a loaded machine
        # thread hand-offs made fitting ~7x slower: train single-threaded.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            self._train(specs, ms)
        finally:
            torch.set_num_threads(threads)

    def _fit_networks(self, specs: list[BlockSpec], ms: np.ndarray,
                      nets: list[list[BlockSpec]], measured: np.ndarray) -> None:
        if self.network_weight <= 0 or self.network_epochs <= 0:
            return
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            figures = finetune_on_networks(self, specs, ms, nets, measured,
                                           weight=self.network_weight,
                                           epochs=self.network_epochs, lr=self.network_lr)
        finally:
            torch.set_num_threads(threads)
        assert self.net is not None
        self.net = _frozen(self.net)
        self._fused_key = None  # the folded copy was built from the weights before
        self.report["network_fit"] = {"n_networks": len(nets), "weight": self.network_weight,
                                      "epochs": self.network_epochs, **figures}

    def _train(self, specs: list[BlockSpec], ms: np.ndarray) -> None:
        assert self.schema is not None
        gen = torch.Generator().manual_seed(self.seed)
        x = torch.from_numpy(self.schema.encode(specs))
        y = torch.from_numpy(np.log(ms)).float()
        self.x_mean = x.mean(0)
        std = x.std(0, unbiased=False)
        # A constant column (e.g. `heads` when no op has any) keeps scale 1: dividing by ~0
        # would blow up an unseen value and the cancellation in the folded first layer.
        self.x_scale = torch.where(std > 1e-3, std, torch.ones_like(std))
        self.y_mean = float(y.mean())
        self.y_scale = max(float(y.std(unbiased=False)), 1e-6)
        xs = (x - self.x_mean) / self.x_scale
        ys = (y - self.y_mean) / self.y_scale

        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            net = make_mlp(self.schema.width, self.hidden)
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        n = len(xs)
        steps_per_epoch = max(1, -(-n // self.batch_size))
        total = self.epochs * steps_per_epoch
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: 0.5 * (1 + np.cos(np.pi * min(s, total) / total))
        )
        net.train()
        losses = []
        for _ in range(self.epochs):
            perm = torch.randperm(n, generator=gen)
            epoch_loss = 0.0
            for i in range(0, n, self.batch_size):
                idx = perm[i:i + self.batch_size]
                loss = nn.functional.mse_loss(net(xs[idx]).squeeze(1), ys[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                epoch_loss += float(loss.detach()) * len(idx)
            losses.append(epoch_loss / n)
        self.net = _frozen(net)
        self.report["train"] = {
            "n_blocks": n, "epochs": self.epochs, "final_loss": losses[-1] if losses else None,
            "hidden": list(self.hidden),
        }

    # ----------------------------------------------------------------------- prediction
    def _forward_log_ms(self, x: torch.Tensor) -> torch.Tensor:
        assert self.net is not None, "predict() before fit()"
        return self.y_mean + self.y_scale * self.net((x - self.x_mean) / self.x_scale).squeeze(1)

    def _fused_net(self) -> nn.Sequential:
        """The net with input standardisation folded into the first layer and the log-ms
        de-standardisation into the last (exact algebra, two fewer passes over the batch)."""
        key = id(self.net)
        if getattr(self, "_fused_key", None) != key:
            assert self.net is not None
            fused = copy.deepcopy(self.net)
            first, last = fused[0], fused[-1]
            with torch.no_grad():
                w = first.weight / self.x_scale
                first.bias -= w @ self.x_mean
                first.weight.copy_(w)
                last.weight.mul_(self.y_scale)
                last.bias.mul_(self.y_scale).add_(self.y_mean)
            self._fused, self._fused_key = fused, key
        return self._fused

    def predict_features(
        self, x: np.ndarray | torch.Tensor, *, chunk: int = 4096, threads: int = 1
    ) -> np.ndarray:
        """ms for an already encoded feature matrix (the batched hot path of the searches).

        Chunks of a few thousand rows keep the activations in L2 cache, and one thread avoids
        hand-offs that cost more than these small matmuls: on the shared 2-core host this ran
        ~4x faster than two threads over 1M rows. Parallelism belongs to the caller (trials).
        """
        xt = torch.as_tensor(x, dtype=torch.float32)
        out = torch.empty(len(xt), dtype=torch.float32)
        net = self._fused_net()
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with torch.inference_mode():
                for i in range(0, len(xt), chunk):
                    out[i:i + chunk] = net(xt[i:i + chunk]).squeeze(1)
                out.exp_()
        finally:
            torch.set_num_threads(before)
        return out.double().numpy()

    def predict(self, blocks: list[BlockSpec]) -> np.ndarray:
        if not blocks:
            return np.zeros(0)
        assert self.schema is not None
        return self.predict_features(self.schema.encode(blocks))

    def expected(self, terms: list[SoftBlock]) -> torch.Tensor:
        """sum_b prob_b * S(spec_b with soft overrides), network-corrected (paper eq. 9 sum).

        Gradients flow to the soft numeric fields (expected channel counts from the gates) and
        to the probabilities (Gumbel choice probabilities). The correction's per-op block counts are
        the expected numbers of blocks that run, sums of probabilities.
        """
        assert self.schema is not None
        if not terms:
            return torch.zeros(())
        x = self.schema.encode_soft(terms)
        ms = torch.exp(self._forward_log_ms(x))
        prob = torch.stack([torch.as_tensor(t.prob, dtype=ms.dtype).reshape(()) for t in terms])
        # paper eq. 9: sum over blocks of S{...}, corrected per op family
        return self.correction.apply_t(ms, prob, [t.spec.op_key for t in terms])

    # ----------------------------------------------------------------------- persistence
    def _state(self) -> dict[str, Any]:
        assert self.net is not None
        return {
            "hidden": list(self.hidden),
            "weights": dict(self.net.state_dict()),
            "x_mean": self.x_mean, "x_scale": self.x_scale,
            "y_mean": self.y_mean, "y_scale": self.y_scale,
            "hyper": {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr,
                      "weight_decay": self.weight_decay, "network_weight": self.network_weight,
                      "network_epochs": self.network_epochs, "network_lr": self.network_lr},
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        assert self.schema is not None
        self.hidden = tuple(int(h) for h in state["hidden"])
        net = make_mlp(self.schema.width, self.hidden)
        net.load_state_dict(state["weights"])
        self.net = _frozen(net)
        self.x_mean, self.x_scale = state["x_mean"].float(), state["x_scale"].float()
        self.y_mean, self.y_scale = float(state["y_mean"]), float(state["y_scale"])
        hyper = state.get("hyper", {})
        self.epochs = int(hyper.get("epochs", self.epochs))
        self.batch_size = int(hyper.get("batch_size", self.batch_size))
        self.lr = float(hyper.get("lr", self.lr))
        self.weight_decay = float(hyper.get("weight_decay", self.weight_decay))
        self.network_weight = float(hyper.get("network_weight", self.network_weight))
        self.network_epochs = int(hyper.get("network_epochs", self.network_epochs))
        self.network_lr = float(hyper.get("network_lr", self.network_lr))
