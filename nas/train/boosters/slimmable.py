"""SlimSeg slimmable networks: one set of weights runs at several widths, one BN per width.

`make_slimmable(model, widths, num_classes)` turns a plain network into a slimmable one in place:
every `Conv2d` becomes a `SlimConv2d` that, at width w, computes only its first
`slim_count(C_out, w)` output channels from however many input channels arrive (depthwise convs
follow their input), and every `BatchNorm2d` becomes a `SwitchableBatchNorm2d` holding one BN per
width (SlimSeg's "independent BN for each width"). Parameter names stay the same, so the
conv weights are shared by all widths.

What stays full width: the classifier (the last conv an eval forward runs) and every head under
`aux_heads` (their inputs still slim), so all widths predict the same label set.

RTSeg's MHSA blocks slim their token LayerNorms and Linears as `slim_tokens.py` explains.
Limits: grouped convs other than depthwise, and any other `Linear`/`LayerNorm` on channels, are
refused. Where features are concatenated (STDC modules, stems), the next conv reads the
first k channels of the concatenation, so channel i of a slim width is not always channel i
of the full network; training handles it, and `extract_width` builds exactly what was trained.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from nas.errors import UserError
from nas.train.boosters.slim_tokens import SlimTokenLinear, SlimTokenNorm, is_mhsa, slim_mhsa

DEFAULT_WIDTHS = (0.25, 0.5, 0.75, 1.0)


def slim_count(channels: int, width: float) -> int:
    """Channels kept at `width`: round-half-up of w*C, at least one (uniform slimming)."""
    return max(1, int(width * channels + 0.5))


def check_widths(widths: Sequence[float], source: str = "--slim-widths") -> tuple[float, ...]:
    ws = tuple(float(w) for w in widths)
    if not ws or any(not 0 < w <= 1 for w in ws) or list(ws) != sorted(set(ws)) or ws[-1] != 1.0:
        raise UserError(f"{source}: {list(widths)}; expected increasing widths in (0, 1] "
                        "ending at 1.0, e.g. 0.25,0.5,0.75,1.0")
    return ws


class SlimConv2d(nn.Conv2d):
    """A Conv2d that runs its first `slim_count(out, w)` filters on the channels it receives."""

    width: float = 1.0
    keep_out: bool = False

    def active_out(self, cin: int) -> int:
        if self.groups == self.in_channels and self.groups > 1:  # depthwise (x multiplier)
            return cin * (self.out_channels // self.in_channels)
        return self.out_channels if self.keep_out else slim_count(self.out_channels, self.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cin = x.shape[1]
        cout = self.active_out(cin)
        if self.groups == 1:
            weight, groups = self.weight[:cout, :cin], 1
        else:
            weight, groups = self.weight[:cout], cin
        bias = self.bias[:cout] if self.bias is not None else None
        return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, groups)


class SwitchableBatchNorm2d(nn.Module):
    """One BatchNorm2d per width (full size); the active one normalises the first C channels."""

    def __init__(self, bn: nn.BatchNorm2d, n_widths: int) -> None:
        super().__init__()
        self.bns = nn.ModuleList(copy.deepcopy(bn) for _ in range(n_widths))
        self.index = n_widths - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bn, c = self.bns[self.index], x.shape[1]
        train = self.training or not bn.track_running_stats
        if self.training and bn.track_running_stats:
            bn.num_batches_tracked.add_(1)
        momentum = 0.1 if bn.momentum is None else bn.momentum
        # prefix slices are views: the running statistics update in place
        return F.batch_norm(
            x, bn.running_mean[:c] if bn.running_mean is not None else None,
            bn.running_var[:c] if bn.running_var is not None else None,
            bn.weight[:c] if bn.weight is not None else None,
            bn.bias[:c] if bn.bias is not None else None, train, momentum, bn.eps,
        )


def make_slimmable(model: nn.Module, widths: Sequence[float]) -> nn.Module:
    """Convert `model` in place (see the module docstring); returns it at the largest width."""
    widths = check_widths(widths)
    label = type(getattr(model, "net", model)).__name__
    for module in list(model.modules()):
        if is_mhsa(module):
            slim_mhsa(module)  # its token norms and Linears follow the width
    for name, module in model.named_modules():
        if type(module) in (nn.Linear, nn.LayerNorm) and "aux_heads" not in name.split("."):
            raise UserError(f"--slimmable: {label} has a {type(module).__name__} "
                            f"on channels at '{name}'; only conv/BN networks can be slimmed")
    classifier = _last_conv(model)
    for name, module in list(model.named_modules()):
        in_aux = "aux_heads" in name.split(".")
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if type(child) is nn.Conv2d:
                _check_conv(child, full)
                slim = SlimConv2d(child.in_channels, child.out_channels, child.kernel_size,
                                  child.stride, child.padding, child.dilation, child.groups,
                                  child.bias is not None)
                slim.load_state_dict(child.state_dict())
                slim.keep_out = in_aux or "aux_heads" in full.split(".") or full == classifier
                _replace(module, child_name, slim)
            elif type(child) is nn.BatchNorm2d:
                _replace(module, child_name, SwitchableBatchNorm2d(child, len(widths)))
    model.slim_widths = widths  # type: ignore[assignment]
    set_width(model, 1.0)
    return model


@torch.no_grad()
def _last_conv(model: nn.Module, probe_hw: tuple[int, int] = (64, 64)) -> str:
    """Name of the last Conv2d an eval-mode forward runs: the classifier."""
    probe = copy.deepcopy(model).eval()
    order: list[str] = []
    handles = [m.register_forward_hook(lambda *_a, n=n: order.append(n))
               for n, m in probe.named_modules() if isinstance(m, nn.Conv2d)]
    try:
        probe(torch.randn(1, 3, *probe_hw))
    finally:
        for h in handles:
            h.remove()
    if not order:
        raise UserError(f"--slimmable: {type(model).__name__} has no conv to slim")
    return order[-1]


def _replace(parent: nn.Module, name: str, new: nn.Module) -> None:
    """Swap a child; a `BoostedNet` shares its children with the wrapped net, so swap it there
    too."""
    setattr(parent, name, new)
    inner = getattr(parent, "_net", None)
    if inner is not None and name in inner._modules:
        setattr(inner, name, new)


def _check_conv(conv: nn.Conv2d, name: str) -> None:
    if conv.padding_mode != "zeros":
        raise UserError(f"--slimmable: conv '{name}' pads with {conv.padding_mode!r}")
    if conv.groups not in (1, conv.in_channels):
        raise UserError(f"--slimmable: conv '{name}' is grouped ({conv.groups} groups); only "
                        "plain and depthwise convs can be slimmed")


def widths_of(model: nn.Module) -> tuple[float, ...]:
    widths = getattr(model, "slim_widths", None)
    if widths is None:
        raise ValueError("model is not slimmable (make_slimmable was not applied)")
    return tuple(widths)


def set_width(model: nn.Module, width: float) -> None:
    """Run every slim layer at `width` (one of the model's widths) with that width's BNs."""
    widths = widths_of(model)
    if width not in widths:
        raise UserError(f"width {width} is not one of the trained widths {list(widths)}")
    index = widths.index(width)
    for m in model.modules():
        if isinstance(m, (SlimConv2d, SlimTokenLinear)):
            m.width = width
        elif isinstance(m, SwitchableBatchNorm2d):
            m.index = index


@torch.no_grad()
def extract_width(model: nn.Module, width: float, probe_hw: tuple[int, int] = (64, 64)
                  ) -> nn.Module:
    """A plain copy of `model` at `width`: smaller Conv2d / BatchNorm2d (and MHSA Linear /
    LayerNorm), no slim layers.

    One probe forward (train mode, so the training-only heads are sized too) records the
    channels every layer really sees; the copy's layers are rebuilt at those sizes with the
    sliced weights and that width's BN statistics, so it computes what the slim model computes.
    """
    net = copy.deepcopy(model)
    set_width(net, width)
    seen: dict[str, tuple[int, int]] = {}

    def record(name: str):
        def hook(m: nn.Module, inputs: Any, out: torch.Tensor) -> None:
            dim = -1 if isinstance(m, (SlimTokenLinear, SlimTokenNorm)) else 1  # tokens: last
            seen[name] = (int(inputs[0].shape[dim]), int(out.shape[dim]))
        return hook

    probe = copy.deepcopy(net).train()
    slim_types = (SlimConv2d, SwitchableBatchNorm2d, SlimTokenLinear, SlimTokenNorm)
    handles = [m.register_forward_hook(record(n)) for n, m in probe.named_modules()
               if isinstance(m, slim_types)]
    try:
        probe(torch.randn(2, 3, *probe_hw))
    finally:
        for h in handles:
            h.remove()
    for name, module in list(net.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if isinstance(child, SlimConv2d):
                cin, cout = seen.get(full, (child.in_channels, child.out_channels))
                _replace(module, child_name, _plain_conv(child, cin, cout))
            elif isinstance(child, SwitchableBatchNorm2d):
                c = seen.get(full, (child.bns[0].num_features,) * 2)[0]
                _replace(module, child_name, _plain_bn(child.bns[child.index], c))
            elif isinstance(child, (SlimTokenLinear, SlimTokenNorm)) and full in seen:
                _replace(module, child_name, child.plain(seen[full][0]))
    del net.slim_widths
    return net.eval()


def _plain_conv(conv: SlimConv2d, cin: int, cout: int) -> nn.Conv2d:
    depthwise = conv.groups == conv.in_channels and conv.groups > 1
    groups = cin if depthwise else 1
    out = nn.Conv2d(cin, cout, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                    groups, conv.bias is not None)
    out.weight.copy_(conv.weight[:cout] if depthwise else conv.weight[:cout, :cin])
    if conv.bias is not None:
        out.bias.copy_(conv.bias[:cout])
    return out


def _plain_bn(bn: nn.BatchNorm2d, c: int) -> nn.BatchNorm2d:
    out = nn.BatchNorm2d(c, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
    state = {k: (v[:c] if v.dim() == 1 else v) for k, v in bn.state_dict().items()}
    out.load_state_dict(state)
    return out
