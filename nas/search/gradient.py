"""The gradient search driver (RTSeg): pretrain -> search -> derive -> build/inherit -> summary.

1. pretrain the supernet in `plain` mode (every channel, LIR in every mixed block);
2. search: weights, DWBC gates and Gumbel logits trained jointly on
   L = CE + beta * L_lat (eq. 9) + gamma * L_aux + lambda * L_kd (eq. 12), the pretrained
   supernet as the frozen distillation teacher, tau annealed from `tau_start` to `tau_end`;
3. `derive()` -> arch.json; `build(arch)` is physically smaller, `inherit()` copies the kept
   weights; the subnet is evaluated, its latency predicted and (on a host device) measured.

With boosters (`--detail-guidance`, `--boundary`), stages 1 and 2 train the supernet wrapped with
the booster heads and add their losses (nas/train/boosters/search.py); the teacher, `derive`,
`build` and `inherit` read the supernet itself, so the subnet never holds a head.

`nas retrain RUN` then fine-tunes the subnet (nas/search/retrain.py).
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from nas.errors import UserError
from nas.io import atomic_torch_save, atomic_write_json
from nas.runs import save_config, truncate_jsonl
from nas.search.config import SearchConfig
from nas.search.latency_loss import LatencyLoss, attainable_range, check_target, predicted_ms
from nas.search.report import LATENCY_LOG, merge_metrics, plot_search, plot_summary
from nas.search.stages import fit_stage, stage_data
from nas.train.boosters.config import BoosterConfig
from nas.train.boosters.search import (
    booster_names,
    booster_record,
    head_param_groups,
    stage_loss,
    with_heads,
)
from nas.train.trainer import LossContext, seed_everything, unwrap


@dataclass
class SearchRequest:
    """One `nas search` invocation.

    Args:
        space: space name. target_ms: latency target at `input_hw` on `device`.
        device: latency device (latency/devices.yaml). input_hw: deployment input size.
        data: dataset folder or "synth". cfg: budgets and loss weights.
        folder: the run folder `runs/<name>/`. resume: continue the run in `folder`.
        auto_profile: profile the device and train its predictor when it has none.
        measure: time the subnet on the device at the end (host devices only).
        progress: progress bars.
        boosters: training boosters of the pretrain and search stages (detail / boundary heads,
            training only), recorded for `nas retrain`; None for none.
    """

    space: str
    target_ms: float
    device: str
    input_hw: tuple[int, int]
    data: str
    cfg: SearchConfig
    folder: Path
    resume: bool = False
    auto_profile: bool = False
    measure: bool = True
    progress: bool = True
    boosters: BoosterConfig | None = None

    def run_config(self, num_classes: int) -> dict[str, Any]:
        """What config.yaml records; a resume whose config differs is refused, naming the keys."""
        return {"driver": "gradient", "space": self.space, "target_ms": float(self.target_ms),
                "target_device": self.device, "input_size": list(self.input_hw),
                "data": self.data, "num_classes": num_classes, "config": self.cfg.as_dict(),
                **booster_record(self.boosters)}


def tau_at(cfg: SearchConfig, iteration: int) -> float:
    """Geometric annealing tau_start -> tau_end over the search stage."""
    total = max(1, cfg.search.iterations - 1)
    frac = min(max(iteration, 0), total) / total
    return cfg.tau_start * (cfg.tau_end / cfg.tau_start) ** frac


class SearchHook:
    """Trainer `extra_loss`: adds beta * L_lat (eq. 9) and logs the expected latency per step."""

    def __init__(self, loss: LatencyLoss, beta: float, log_path: Path) -> None:
        self.loss, self.beta, self.log_path = loss, beta, log_path
        self._started = False

    def __call__(self, ctx: LossContext) -> dict[str, torch.Tensor]:
        net = unwrap(ctx.model)
        if not self._started:  # a resumed run: drop log lines after the checkpoint
            truncate_jsonl(self.log_path, ctx.iteration)
            self._started = True
        reg, ms = self.loss(net)
        with open(self.log_path, "a") as f:
            f.write(json.dumps({"kind": "latency", "iter": ctx.iteration + 1,
                                "expected_ms": float(ms.detach()),
                                "target_ms": self.loss.target_ms,
                                "tau": next((b.tau for b in net.mixed().values()), None)})
                    + "\n")
        return {"lat": self.beta * reg}


def _data_source(data: str) -> str:
    return data if data == "synth" else str(Path(data).expanduser().resolve())


def check_folder(req: SearchRequest, run_config: dict[str, Any]) -> None:
    """Refuse to overwrite a run; on resume, refuse a changed config listing the keys.

    Runs before any profiling or training, so a mistake costs a second, not a stage.
    """
    from nas.runs import check_same_config, load_config

    if req.resume:
        check_same_config(req.folder, load_config(req.folder), run_config)
    elif (req.folder / "config.yaml").is_file():
        raise UserError(f"{req.folder}: already holds a search; continue it with --resume or "
                        "choose another --name")


def run_gradient_search(req: SearchRequest) -> dict[str, Any]:
    """Run (or resume) the whole search; returns the summary also written to summary.json."""
    import search_spaces
    from nas.search.predictor_setup import get_predictor

    t_start = time.perf_counter()
    space = search_spaces.get(req.space)
    cfg = req.cfg
    data = _data_source(req.data)
    pre_data = stage_data(data, cfg.pretrain)
    n_cls = pre_data.num_classes
    run_config = {**req.run_config(n_cls), "data": data}
    check_folder(req, run_config)

    predictor = get_predictor(req.device, req.space, auto_profile=req.auto_profile,
                              supernet_cfg=cfg.supernet, input_hw=req.input_hw,
                              num_classes=n_cls, progress=req.progress)
    size = ", ".join(f"{k} {v}" for k, v in cfg.supernet.items())
    where = (f"space {req.space}{f' ({size})' if size else ''} on '{req.device}' at "
             f"{req.input_hw[0]}x{req.input_hw[1]}")
    lo, hi = attainable_range(req.space, cfg.supernet, predictor, req.input_hw, n_cls)
    print(f"attainable latency of {where}: {lo:.3f} .. {hi:.3f} ms (predicted); "
          f"target {req.target_ms:g} ms", flush=True)
    check_target(req.target_ms, lo, hi, where)
    if req.measure:  # a store from another machine: say so now, not after the training
        from nas.export.measure import host_check

        host_check(req.device)
    save_config(req.folder, run_config)
    print(f"search run: {req.folder}/", flush=True)
    if req.boosters is not None and req.boosters.enabled:
        from nas.train.boosters.cli import record_boosters

        record_boosters(req.folder, req.boosters)  # for `nas retrain RUN`

    # ---- 1. pretrain the supernet (plain mode); booster heads, if any, hook onto `model`
    seed_everything(cfg.pretrain.seed)
    supernet = space.supernet(n_cls, **cfg.supernet)
    supernet.set_mode("plain")
    model = with_heads(supernet, req.boosters)  # the supernet itself when unboosted
    ident = {"space": req.space, "supernet": dict(cfg.supernet), "num_classes": n_cls,
             **booster_record(req.boosters)}
    pre = fit_stage("pretrain", model, cfg.pretrain, req.folder / "pretrain", pre_data,
                    identity={**ident, "stage": "pretrain"}, resume=req.resume,
                    progress=req.progress, extra_loss=stage_loss(None, req.boosters))
    teacher = copy.deepcopy(supernet).eval()  # the heads hook `model`, never `supernet`
    for p in teacher.parameters():
        p.requires_grad_(False)

    # ---- 2. search: weights + gates + logits, RTSeg eq. 12 (+ the booster losses)
    from nas.search.optim import search_optimizer

    supernet.set_mode("search")
    supernet.set_tau(tau_at(cfg, 0))
    loss = LatencyLoss(predictor, float(req.target_ms), req.input_hw)
    hook = SearchHook(loss, cfg.beta, req.folder / "search" / LATENCY_LOG)
    (req.folder / "search").mkdir(parents=True, exist_ok=True)
    optimizer = search_optimizer(supernet, cfg.search, cfg.arch_lr)
    for group in head_param_groups(model, cfg.search.weight_decay):
        optimizer.weights.add_param_group(group)  # the heads train with the weights (SGD)

    def anneal(trainer: Any) -> None:
        # the Trainer's own counter: tau is a pure function of the step, so resume is exact
        supernet.register_forward_pre_hook(
            lambda m, _inp: m.set_tau(tau_at(cfg, trainer.iteration)) if m.training else None)

    search = fit_stage("search", model, cfg.search, req.folder / "search",
                       stage_data(data, cfg.search), identity={**ident, "stage": "search"},
                       resume=req.resume, progress=req.progress, teacher=teacher,
                       extra_loss=stage_loss(hook, req.boosters), optimizer=optimizer,
                       before_fit=anneal)

    # ---- 3. derive -> build -> inherit (from the supernet: no booster head enters the subnet)
    arch = derive_and_save(space, supernet, req.folder)
    subnet = space.build(arch, n_cls)
    space.inherit(subnet, supernet, arch)
    atomic_torch_save(req.folder / "subnet.pt", subnet.state_dict())
    supernet.set_mode("plain")
    summary = summarise(req, space, arch, subnet, teacher, predictor, pre_data, pre, search)
    summary["boosters"] = booster_names(req.boosters)
    summary["time_s"] = round(time.perf_counter() - t_start, 1)
    write_summary(req.folder, summary)
    return summary


def derive_and_save(space: Any, supernet: nn.Module, folder: Path) -> dict[str, Any]:
    from nas.arch import load_arch, save_arch

    arch = space.validate(supernet.derive())
    save_arch(arch, folder / "arch.json")
    return load_arch(folder / "arch.json")  # what later steps read: validated from the file


def summarise(req: SearchRequest, space: Any, arch: dict[str, Any], subnet: nn.Module,
              supernet: nn.Module, predictor: Any, data: Any, pre: dict[str, Any],
              search: dict[str, Any]) -> dict[str, Any]:
    """Accuracy, size and latency (predicted and measured) of the subnet and the supernet."""
    from nas.export.measure import timed
    from nas.models.counting import count_macs, count_params
    from nas.train.evaluate import evaluate, scores

    hw, n_cls = req.input_hw, data.num_classes
    miou = None
    if data.val is not None:
        miou = scores(evaluate(subnet, data.val, n_cls), data.train.class_names).get("miou")
    full = supernet.derive()  # plain mode: every channel, LIR everywhere
    full_net = space.build(full, n_cls)
    measured = sup_measured = warning = None
    how = "not measured (--no-measure)"
    if req.measure:  # interleaved, so the two figures share the machine's conditions
        t = timed([subnet, full_net], hw, req.device, rounds=5)
        how, warning = t.how, t.warning
        if t.times is not None:
            measured, sup_measured = t.times
    rec = {
        "driver": "gradient", "space": req.space, "device": req.device,
        "input_size": list(hw), "data": req.data, "num_classes": n_cls,
        "target_ms": float(req.target_ms),
        "predicted_ms": round(predicted_ms(predictor, space, arch, hw, n_cls), 4),
        "measured_ms": None if measured is None else round(measured, 4),
        "measured_by": how,
        "host_warning": warning,  # the store's machine is not this one (nas/export/measure.py)
        "miou": miou,
        "params": count_params(subnet),
        "macs": count_macs(subnet, (1, 3, *hw))[0],
        "supernet_predicted_ms": round(predicted_ms(predictor, space, full, hw, n_cls), 4),
        "supernet_measured_ms": None if sup_measured is None else round(sup_measured, 4),
        "supernet_miou": pre.get("miou"),
        "supernet_params": count_params(full_net),
        "supernet_macs": count_macs(full_net, (1, 3, *hw))[0],
        "search_miou": search.get("miou"),
        "arch": "arch.json", "weights": "subnet.pt", "retrained": False,
    }
    return rec


def write_summary(folder: Path, summary: dict[str, Any]) -> None:
    """summary.json, metrics.jsonl (merged) and the plots; prints what went where."""
    merge_metrics(folder)
    plots = [p for p in (plot_search(folder, summary["target_ms"]),
                         plot_summary(folder, summary)) if p is not None]
    summary["plots"] = [str(p.relative_to(folder)) for p in plots]
    atomic_write_json(folder / "summary.json", summary)
    meas = summary.get("measured_ms")
    miou = summary.get("miou")
    print(f"subnet: predicted {summary['predicted_ms']:.3f} ms, measured "
          f"{'n/a' if meas is None else f'{meas:.3f} ms'} (target {summary['target_ms']:g} ms); "
          f"{summary['params'] / 1e6:.3f} M params, {summary['macs'] / 1e9:.3f} GMACs; "
          f"val mIoU {'n/a' if miou is None or not math.isfinite(miou) else f'{100 * miou:.2f}%'}",
          flush=True)
    print(f"wrote {folder}/: config.yaml arch.json summary.json metrics.jsonl subnet.pt "
          f"{' '.join(summary['plots'])}", flush=True)
