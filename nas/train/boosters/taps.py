"""Attach training-only booster heads to any segmentation model, at zero inference cost.

Protocol (what a model must offer so detail guidance / the boundary head can use it):
1. its train-mode output already has a `"detail"` entry (STDC-Seg builds its own detail head), or
2. it names its 1/8 feature module in an attribute `detail_feature` (a dotted module path), or
3. it is a known family (`KNOWN_TAPS`), or else
4. the shallowest module whose output is at 1/8 of the input is used (found by one probe
   forward; printed, so a user can check it).
During a training forward a hook on that module captures the feature and the booster heads
(under `booster.aux_heads`, so `count_params` leaves them out) predict from it. The hook lives
only for the duration of that forward, so the wrapped model carries no trace of the boosters: a
copy of it (a search's distillation teacher), its derived subnet or its export are unaffected. In
eval mode the output is the wrapped model's own.

`BoostedNet` re-registers the wrapped model's children as its own, so its state_dict keys are
the model's keys plus `booster.aux_heads.*`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn

from latency.ops import ConvBNAct
from nas.errors import UserError
from nas.train.evaluate import split_outputs

PROBE_HW = (64, 64)


def _rtseg_tap(net: nn.Module) -> str:
    return f"detail.{len(net.detail) - 1}"  # type: ignore[arg-type]


def _ffnet_tap(net: nn.Module) -> str:
    # the last three stages are always at 1/8, 1/16, 1/32 (a 3-stage FFNet's stem gives the 1/4)
    return f"stages.{len(net.stages) - 3}"  # type: ignore[arg-type]


def _routing_tap(net: nn.Module) -> str | None:
    """The first cell at 1/8 (layer 1, scale 1): computed in every soft training forward,
    whatever the gates decide, and shallow, where detail guidance belongs (STDC)."""
    from search_spaces.routing.topology import cell_key

    topo = net.topo  # type: ignore[attr-defined]
    if topo.num_scales < 2 or topo.num_layers < 1:
        return None
    return f"cells.{cell_key(1, 1)}.op"


KNOWN_TAPS: dict[str, Any] = {
    "BiSeNetV2": "detail_branch",  # the detail branch ends at 1/8
    "STDCSeg": "backbone.stage8",  # where STDC's own detail head reads
    "RTSegNet": _rtseg_tap,
    "RTSegSupernet": _rtseg_tap,
    "FFNet": _ffnet_tap,
    "RoutingSupernet": _routing_tap,
}


class BoosterHead(nn.Sequential):
    """3x3 ConvX then a 1x1 to one logit map (STDC's detail head shape)."""

    def __init__(self, cin: int, mid: int = 64) -> None:
        mid = min(mid, max(8, cin))
        super().__init__(ConvBNAct(cin, mid, 3), nn.Conv2d(mid, 1, 1))


class _Booster(nn.Module):
    def __init__(self, heads: dict[str, nn.Module]) -> None:
        super().__init__()
        self.aux_heads = nn.ModuleDict(heads)


class BoostedNet(nn.Module):
    """`net` plus booster heads on a tapped feature; train output gains one entry per head.

    Args:
        net: the segmentation model (registry conventions).
        heads: booster outputs to add, e.g. ("detail", "boundary"); a name the model's own train
            output already has is taken from there instead of a new head.
        tap: module path of the feature the heads read (default: see the module docstring).
    """

    def __init__(self, net: nn.Module, heads: Sequence[str], tap: str | None = None) -> None:
        super().__init__()
        object.__setattr__(self, "_net", net)  # not a child: its children are ours
        for name, child in net.named_children():
            self.add_module(name, child)
        own, tap_shape, found = _probe(net, tap)
        new = [h for h in heads if h not in own]
        self.tap = found if new else None
        self.extras: dict[str, torch.Tensor] = {}
        self._feature: torch.Tensor | None = None
        if new:
            cin = int(tap_shape[1])
            self.booster = _Booster({h: BoosterHead(cin) for h in new})
        self.train(net.training)

    @property
    def net(self) -> nn.Module:
        """The wrapped inference network (shares every weight with this module)."""
        return self._net

    def _capture(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        self._feature = output

    def __getstate__(self) -> dict[str, Any]:
        # the stashed outputs are graph tensors: a copy (deepcopy, pickle) starts without them
        state = dict(self.__dict__)
        state["extras"], state["_feature"] = {}, None
        return state

    def train(self, mode: bool = True) -> BoostedNet:
        super().train(mode)
        self._net.training = mode
        return self

    def forward(self, x: torch.Tensor) -> Any:
        if not self.training:
            return self._net(x)
        heads = hasattr(self, "booster") and self.tap is not None
        # looked up every time: make_slimmable may have swapped the module since
        hook = self._net.get_submodule(str(self.tap)).register_forward_hook(
            self._capture) if heads else None
        try:
            out = self._net(x)
        finally:
            if hook is not None:
                hook.remove()
        logits, aux = split_outputs(out)
        extras = {k: v for k, v in out.items() if k not in ("out", "aux")} if isinstance(
            out, dict) else {}
        if heads:
            feat, self._feature = self._feature, None
            if feat is None:
                raise UserError(f"booster tap '{self.tap}': {type(self._net).__name__} did not "
                                "run it in this forward; choose another tap")
            for name, head in self.booster.aux_heads.items():
                extras[name] = head(feat)
        self.extras = extras
        return {"out": logits, "aux": aux, **extras}


def resolve_tap(net: nn.Module, tap: str | None = None) -> str | None:
    """The module path of the 1/8 feature: explicit, declared, known family, or None (probe)."""
    if tap is None:
        tap = getattr(net, "detail_feature", None)
    if tap is None:
        known = KNOWN_TAPS.get(type(net).__name__)
        tap = known(net) if callable(known) else known
    if tap is not None:
        try:
            net.get_submodule(tap)
        except AttributeError:
            raise UserError(f"booster tap '{tap}': {type(net).__name__} has no such module") from None
    return tap


@torch.no_grad()
def _probe(net: nn.Module, tap: str | None) -> tuple[set[str], torch.Size, str]:
    """(extra train-output keys of the model, shape of the tap feature, the tap path)."""
    tap = resolve_tap(net, tap)
    probe = copy.deepcopy(net).train()
    shapes: dict[str, torch.Size] = {}
    order: list[str] = []

    def record(name: str):
        def hook(_m: nn.Module, _i: Any, out: Any) -> None:
            if isinstance(out, torch.Tensor) and out.dim() == 4:
                shapes[name] = out.shape
                order.append(name)
        return hook

    handles = [m.register_forward_hook(record(n)) for n, m in probe.named_modules()
               if n and "aux_heads" not in n.split(".")]
    try:
        out = probe(torch.randn(2, 3, *PROBE_HW))
    finally:
        for h in handles:
            h.remove()
    own = {k for k in out if k not in ("out", "aux")} if isinstance(out, dict) else set()
    if tap is None:
        eighth = [n for n in order if tuple(shapes[n][-2:]) == (PROBE_HW[0] // 8,
                                                                 PROBE_HW[1] // 8)]
        if not eighth:
            raise UserError(f"{type(net).__name__}: no module outputs a 1/8 feature; declare "
                            "one with a `detail_feature` attribute")
        depth = min(n.count(".") for n in eighth)
        tap = [n for n in eighth if n.count(".") == depth][-1]
        print(f"booster: {type(net).__name__} taps its 1/8 feature at '{tap}'", flush=True)
    if tap not in shapes:
        raise UserError(f"booster tap '{tap}': the module does not output a 4-D feature map")
    return own, shapes[tap], tap
