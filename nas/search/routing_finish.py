"""After the routing supernet is trained: common network, per-image report, summary.

Kept apart from the driver because it is also what a resumed run redoes: it needs only the
trained supernet, so `--resume` after a kill here re-creates every file from the checkpoint.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch.nn as nn

from nas.io import atomic_torch_save, atomic_write_json, atomic_write_text
from nas.search.routing_report import markdown, per_image_report, report_images
from search_spaces.routing import arch as arch_mod
from search_spaces.routing.common import common_network
from search_spaces.routing.supernet import RoutingSupernet


def _n_routes(arch: dict[str, Any]) -> int:
    return sum(len(cell) for layer in arch["routes"] for cell in layer)


def common_figures(req: Any, space: Any, arch: dict[str, Any], subnet: nn.Module,
                   predictor: Any, data: Any, n_cls: int, measured: float | None,
                   how: list[str]) -> dict[str, Any]:
    """The common network as a static model: mIoU, params, MACs, predicted and measured ms
    (`measured`: timed in the same rounds as the per-image networks)."""
    from nas.models.counting import count_macs, count_params
    from nas.search.latency_loss import predicted_ms
    from nas.train.evaluate import evaluate, scores

    hw = req.input_hw
    miou = None
    if data.val is not None:
        miou = scores(evaluate(subnet, data.val, n_cls), data.train.class_names).get("miou")
    return {
        "arch": "arch.json", "weights": "subnet.pt", "routes": _n_routes(arch), "miou": miou,
        "params": count_params(subnet), "macs": count_macs(subnet, (1, 3, *hw))[0],
        "gmacs": count_macs(subnet, (1, 3, *hw))[0] / 1e9,
        "predicted_ms": None if predictor is None
        else round(predicted_ms(predictor, space, arch, hw, n_cls), 4),
        "measured_ms": None if measured is None else round(measured, 4),
        "measured_by": how[0] if how else "not measured (--no-measure)",
    }


def finish(req: Any, space: Any, supernet: RoutingSupernet, data: Any, predictor: Any,
           trained: dict[str, Any]) -> dict[str, Any]:
    """Common network -> arch.json + subnet.pt; per-image report -> report.md/json; summary."""
    from nas.arch import load_arch, save_arch
    from nas.models.counting import count_macs, count_params

    cfg, hw, n_cls, folder = req.cfg, req.input_hw, data.num_classes, req.folder
    supernet.eval()
    images = report_images(data.val if data.val is not None else data.train,
                           cfg.report_images, hw)
    # paper: the routes preserved in >= 95% of the inferences form the common network
    stats = common_network(supernet, images, cfg.common_threshold)
    arch = dict(stats.arch)
    if cfg.budget == "flops":
        arch["budget"] = {"lambda": cfg.lam, "mu": cfg.mu}
    save_arch(space.validate(arch), folder / "arch.json")
    arch = load_arch(folder / "arch.json")  # what export reads: validated from the file
    subnet = space.build(arch, n_cls)
    space.inherit(subnet, supernet, arch)
    atomic_torch_save(folder / "subnet.pt", subnet.state_dict())

    full = arch_mod.full_arch(supernet.topo)
    full_net = space.build(full, n_cls)
    space.inherit(full_net, supernet, full)
    print(f"report: {len(images)} images at {hw[0]}x{hw[1]}, dynamic vs all-open, "
          f"{cfg.timing_passes} interleaved passes (PyTorch eager, 1 thread)", flush=True)
    how: list[str] = []
    records, table = per_image_report(supernet, full_net, images, predictor=predictor,
                                      space=space, num_classes=n_cls,
                                      passes=cfg.timing_passes, measure=req.measure,
                                      device=req.device, measured_by=how,
                                      also_measure={"common": subnet})
    common = common_figures(req, space, arch, subnet, predictor, data, n_cls,
                            table.get("device_also_ms", {}).get("common"), how)
    meas = table.get("measured_ms", {})
    summary: dict[str, Any] = {
        "driver": "routing", "space": "routing", "name": folder.name, "device": req.device,
        "input_size": list(hw), "data": req.data, "num_classes": n_cls,
        "budget": cfg.budget, "lambda": cfg.lam, "mu": cfg.mu, "target_ms": req.target_ms,
        # the device figures (comparable to the target): mean over images of the latency of
        # the blocks that ran for each image, predicted and measured by the device's profiler
        "predicted_ms": table.get("predicted_ms", {}).get("mean"),
        "measured_ms": table.get("device_ms", {}).get("mean"),
        "measured_by": (f"{how[0]}; per image: its executed network (routes that ran, gates "
                        "excluded: ORT cannot skip per image)") if how else
                       "not measured (--no-measure)",
        # data-dependent inference itself: PyTorch eager, gates included
        "eager_ms": {k: v.get("mean") for k, v in meas.items()},
        "eager_by": f"PyTorch eager, 1 thread, batch 1, mean over images of the per-image "
                    f"median of {cfg.timing_passes} interleaved passes" if meas else None,
        "miou": trained.get("miou"),
        "params": count_params(supernet),
        "macs": int(round(table["gmacs"]["mean"] * 1e9)) if images else None,
        "supernet_gmacs": count_macs(supernet, (1, 3, *hw))[0] / 1e9,
        "full_gmacs": count_macs(full_net, (1, 3, *hw))[0] / 1e9,
        "timing_passes": cfg.timing_passes,
        "report": table, "common": common, "arch": "arch.json", "weights": "subnet.pt",
        "retrained": False,
    }
    atomic_write_json(folder / "report.json", {
        "summary": {k: v for k, v in summary.items() if k != "report"}, "table": table,
        "images": [dataclasses.asdict(r) for r in records]})
    atomic_write_text(folder / "report.md", markdown(summary, table))
    return summary
