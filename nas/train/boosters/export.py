"""Export each width of a slimmable run as its own physically slimmed network.

`runs/<name>/slim/w0.50/` gets `weights.pt` (the inference network's state_dict: no slim layers,
no booster heads) and either
- `slim.json` ({"model", "model_args", "num_classes", "width", "widths"}), from which
  `load_slim` rebuilds the network (any model: BiSeNetV2, STDC, FFNet, RTSeg), and
- `arch.json` when the model is an RTSeg arch: the uniform slimming of it (every gate group
  keeps its first round(w*C) channels), so `space.build(arch)` loads the weights as they are and
  `nas export` / `nas profile` take it like any searched arch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from nas.io import atomic_torch_save, atomic_write_json
from nas.train.boosters.slimmable import extract_width, make_slimmable, slim_count, widths_of


def uniform_arch(arch: dict[str, Any], width: float) -> dict[str, Any]:
    """The uniform slimming of an RTSeg arch: each group keeps the first round(w*C) of its
    channels (ops unchanged)."""
    channels = {g: list(idx)[: slim_count(len(idx), width)]
                for g, idx in arch["channels"].items()}
    out = {k: v for k, v in arch.items() if k not in ("channels", "name", "description")}
    return {**out, "channels": channels, "description": f"uniform slimming x{width:g}"}


def base_arch(ref: str | dict[str, Any], model_args: dict[str, Any]) -> dict[str, Any] | None:
    """The RTSeg arch a model reference stands for (None for non-RTSeg models)."""
    if isinstance(ref, dict):
        if ref.get("space") != "rtseg":
            return None
        import search_spaces

        return search_spaces.get("rtseg").validate(ref)
    from nas.models.registry import get_entry

    if get_entry(ref).family != "rtseg":
        return None
    import search_spaces
    from search_spaces.rtseg import full_arch

    space = search_spaces.get("rtseg")
    arch = space.presets().get(ref) or full_arch(**model_args)
    return space.validate(arch)


def inference_net(model: nn.Module) -> nn.Module:
    return getattr(model, "net", model)


def export_widths(
    model: nn.Module, folder: Path, *, ref: str | dict[str, Any], model_args: dict[str, Any],
    num_classes: int,
) -> dict[float, Path]:
    """Write `folder/slim/w<width>/` for every width of the slimmable `model`."""
    arch = base_arch(ref, model_args)
    out: dict[float, Path] = {}
    widths = widths_of(model)
    for w in widths:
        where = Path(folder) / "slim" / f"w{w:.2f}"
        where.mkdir(parents=True, exist_ok=True)
        net = inference_net(extract_width(model, w))
        atomic_torch_save(where / "weights.pt", net.state_dict())
        atomic_write_json(where / "slim.json", {
            "model": ref, "model_args": model_args, "num_classes": num_classes,
            "width": w, "widths": list(widths)})
        if arch is not None:
            from nas.arch import save_arch

            save_arch(uniform_arch(arch, w), where / "arch.json")
        out[w] = where
    return out


def load_slim(where: str | Path) -> nn.Module:
    """The network of one exported width (eval mode), from its folder."""
    import search_spaces
    from nas.models.registry import create_model

    where = Path(where)
    weights = torch.load(where / "weights.pt", weights_only=True)
    meta = json.loads((where / "slim.json").read_text())
    n_cls = int(meta["num_classes"])
    if (where / "arch.json").is_file():
        from nas.arch import load_arch

        arch = load_arch(where / "arch.json")
        net = search_spaces.get(arch["space"]).build(arch, n_cls)
    else:
        ref = meta["model"]
        if isinstance(ref, str):
            full = create_model(ref, num_classes=n_cls, **meta["model_args"])
        else:
            full = search_spaces.get(ref["space"]).build(ref, n_cls)
        make_slimmable(full, meta["widths"])
        net = extract_width(full, float(meta["width"]))
    net.load_state_dict(weights)
    return net.eval()
