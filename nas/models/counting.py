"""Parameter and MAC counts, defined once so every table in the project agrees.

- params: every learnable parameter of the inference network, i.e. not under a child named
  `aux_heads` (training-only heads; see nas/models/registry.py).
- MACs: Conv and Linear multiply-accumulates only, per image:
  conv: out_elements * (in_ch / groups) * kh * kw; transposed conv: in_elements * (out_ch /
  groups) * kh * kw; linear: out_elements * in_features. Attention matmuls, pooling, norms and
  activations are not counted (the papers' tables count the same way).

Counting runs on the `meta` device when the model allows it, so a 1 TMAC network at 1024x2048 is
counted in a fraction of a second without allocating activations.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn

AUX_PREFIX = "aux_heads"


def count_params(model: nn.Module, include_aux: bool = False) -> int:
    """Learnable parameters; training-only heads (under `aux_heads`) excluded by default."""
    total = 0
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if not include_aux and (name.startswith(AUX_PREFIX + ".") or f".{AUX_PREFIX}." in name):
            continue
        total += p.numel()
    return total


def _conv_macs(m: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    kh_kw = 1
    for k in m.kernel_size:  # type: ignore[union-attr]
        kh_kw *= k
    batch = output.shape[0]
    if isinstance(m, nn.modules.conv._ConvTransposeNd):
        x = inputs[0]
        return x.numel() // batch * (m.out_channels // m.groups) * kh_kw  # type: ignore[operator]
    return output.numel() // batch * (m.in_channels // m.groups) * kh_kw  # type: ignore[operator]


def _linear_macs(m: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    batch = inputs[0].shape[0] if inputs[0].dim() > 1 else 1
    return output.numel() // batch * m.in_features  # type: ignore[operator]


def _mac_fn(m: nn.Module) -> Callable[[nn.Module, tuple, torch.Tensor], int] | None:
    if isinstance(m, (nn.modules.conv._ConvNd)):
        return _conv_macs
    if isinstance(m, nn.Linear):
        return _linear_macs
    return None


@dataclass(frozen=True)
class ModelProfile:
    params: int
    macs: int
    output_shape: list[int]

    def as_dict(self) -> dict:
        return {"params": self.params, "macs": self.macs, "output_shape": self.output_shape}


def _first_tensor(out: object) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict):
        return _first_tensor(out["out"])
    if isinstance(out, (list, tuple)):
        return _first_tensor(out[0])
    raise TypeError(f"cannot find the output tensor in {type(out).__name__}")


def count_macs(
    model: nn.Module,
    input_shape: tuple[int, ...] | list[tuple[int, ...]],
    *,
    on_meta: bool = True,
) -> tuple[int, list[int]]:
    """MACs per image of one eval-mode forward, and the output shape.

    Args:
        model: the network; it is deep-copied to `meta` (unless `on_meta=False`), never changed.
        input_shape: `(N, C, H, W)` of the input, or a list of shapes for multi-input modules.
        on_meta: run on the meta device (no compute); fall back to real tensors if it fails.
    """
    shapes = input_shape if isinstance(input_shape, list) else [input_shape]
    if on_meta:
        try:
            net = copy.deepcopy(model).to("meta")
            return _run_counted(net, [torch.empty(s, device="meta") for s in shapes])
        except (NotImplementedError, RuntimeError):
            pass
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    return _run_counted(model, [torch.zeros(s, device=dev) for s in shapes])


def _run_counted(net: nn.Module, inputs: list[torch.Tensor]) -> tuple[int, list[int]]:
    total = 0

    def hook(m: nn.Module, args: tuple, out: torch.Tensor) -> None:
        nonlocal total
        fn = _mac_fn(m)
        if fn is not None:
            total += fn(m, args, out)

    handles = [m.register_forward_hook(hook) for m in net.modules() if _mac_fn(m) is not None]
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            out = net(*inputs)
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    return int(total), list(_first_tensor(out).shape)


def profile_model(model: nn.Module, input_hw: tuple[int, int], in_ch: int = 3) -> ModelProfile:
    """Params, MACs and output shape at batch 1, as `nas model info` prints them."""
    macs, shape = count_macs(model, (1, in_ch, *input_hw))
    return ModelProfile(count_params(model), macs, shape)
