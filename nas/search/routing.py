"""The dynamic-routing search driver: budget-constrained training -> per-image report -> common net.

1. train the gated supernet (Li et al. 2020) on CE + lambda * w * L_C, where w is 0 for the first
   40% of the steps and ramps to 1 over 2% (official schedule), and L_C is either the paper's
   FLOPs budget (C(Space)/C - mu)^2 or a latency budget: the same sum over gated blocks with the
   device predictor's milliseconds (plus stem and decoder), normalised by `--target-ms`;
2. run every report image alone (data-dependent inference: closed cells and routes are skipped),
   count its executed GMACs, predict the latency of what ran, time it in PyTorch eager against
   the all-open supernet (report.md / report.json);
3. the common network (routes kept in >= 95% of the images) -> arch.json; `build` + `inherit`
   give subnet.pt, which `nas export RUN` exports like any searched subnet.
With `--detail-guidance` / `--boundary` step 1 also trains booster heads on the first 1/8 cell and
adds their losses (training only: the common network never holds them).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch.nn as nn

from nas.errors import UserError
from nas.io import atomic_write_json, atomic_write_text
from nas.runs import read_jsonl, save_config
from nas.search.routing_config import RoutingSearchConfig
from nas.search.stages import fit_stage, stage_data
from nas.train.boosters.config import BoosterConfig
from nas.train.boosters.search import booster_names, booster_record, stage_loss, with_heads
from nas.train.trainer import seed_everything

SPACE = "routing"
STAGE = "search"
BUDGET_LOG = "budget.jsonl"
ROUTING_OPS = ("rt_stem", "rt_cell", "rt_route_up", "rt_route_down", "rt_decoder")


@dataclass
class RoutingRequest:
    """One `nas search --space routing` invocation.

    Args:
        target_ms: average latency target at `input_hw` on `device` (latency budget); None with
            the FLOPs budget.
        device: latency device; input_hw: deployment input size.
        data: dataset folder or "synth". cfg: supernet, budget and training settings.
        folder: `runs/<name>/`. resume: continue the run in `folder`.
        auto_profile: profile the device and train its predictor when it has none.
        measure: time the networks at the end. progress: progress bars.
        boosters: training boosters (detail / boundary heads on the first 1/8 cell, training
            only); None for none.
    """

    target_ms: float | None
    device: str
    input_hw: tuple[int, int]
    data: str
    cfg: RoutingSearchConfig
    folder: Path
    resume: bool = False
    auto_profile: bool = False
    measure: bool = True
    progress: bool = True
    space: str = SPACE
    boosters: BoosterConfig | None = None

    def run_config(self, num_classes: int) -> dict[str, Any]:
        return {"driver": "routing", "space": SPACE,
                "target_ms": None if self.target_ms is None else float(self.target_ms),
                "target_device": self.device, "input_size": list(self.input_hw),
                "data": self.data, "num_classes": num_classes, "config": self.cfg.as_dict(),
                **booster_record(self.boosters)}


def check_request(req: RoutingRequest) -> None:
    """One-line refusals before anything runs: budget and target must agree."""
    if req.cfg.budget == "latency":
        if req.target_ms is None:
            raise UserError("--target-ms: required with the latency budget (or give --budget "
                            "flops --mu M for the paper's FLOPs budget)")
        if not math.isfinite(req.target_ms) or req.target_ms <= 0:
            raise UserError(f"--target-ms: expected a positive number of milliseconds, got "
                            f"{req.target_ms}")
    elif req.target_ms is not None:
        raise UserError("--target-ms: not used by the FLOPs budget (--budget flops sets mu); "
                        "drop it or use --budget latency")


def get_routing_predictor(req: RoutingRequest, num_classes: int, required: bool) -> Any:
    """The device predictor, checked to know the routing blocks; None when not required and
    missing or unsuited (the FLOPs budget only uses it for the report's predicted figures)."""
    from nas.paths import predictor_path
    from nas.search.predictor_setup import get_predictor

    if not required and not predictor_path(req.device).is_file():
        return None
    pred = get_predictor(req.device, SPACE, auto_profile=req.auto_profile and required,
                         supernet_cfg=req.cfg.supernet, input_hw=req.input_hw,
                         num_classes=num_classes, progress=req.progress)
    ops = {op.split(":")[0] for op in getattr(pred.schema, "ops", ())}
    missing = [op for op in ROUTING_OPS if op not in ops]
    if missing:
        if not required:
            return None
        raise UserError(
            f"device '{req.device}': its latency predictor was not trained on routing blocks "
            f"({', '.join(missing)}); profile them with `nas profile --device {req.device} "
            f"--space routing` and retrain it with `nas predictor train --device {req.device}`")
    if required and not hasattr(pred, "expected"):
        raise UserError(f"device '{req.device}': the latency budget needs a differentiable "
                        "(mlp) predictor")
    return pred


def attainable_ms(predictor: Any, topo: Any, input_hw: tuple[int, int], num_classes: int
                  ) -> tuple[float, float]:
    """(every gate closed: stem + decoder, every route open) as the predictor sees them."""
    import search_spaces
    from nas.search.latency_loss import predicted_ms
    from search_spaces.routing import arch as arch_mod

    space = search_spaces.get(SPACE)
    closed = arch_mod.make_arch(topo, [[[] for _ in range(topo.num_cells(i))]
                                       for i in range(topo.num_layers + 1)])
    full = arch_mod.full_arch(topo)
    return (predicted_ms(predictor, space, closed, input_hw, num_classes),
            predicted_ms(predictor, space, full, input_hw, num_classes))


def run_routing_search(req: RoutingRequest) -> dict[str, Any]:
    """Run (or resume) the whole routing search; returns the summary also in summary.json."""
    import search_spaces
    from nas.search.gradient import _data_source, check_folder
    from nas.search.routing_budget import BudgetHook, BudgetLoss
    from search_spaces.routing.budget import BudgetConfig

    t_start = time.perf_counter()
    check_request(req)
    space = search_spaces.get(SPACE)
    cfg = req.cfg
    data = _data_source(req.data)
    sd = stage_data(data, cfg.train)
    n_cls = sd.num_classes
    run_config = {**req.run_config(n_cls), "data": data}
    check_folder(req, run_config)  # type: ignore[arg-type]

    latency = cfg.budget == "latency"
    predictor = get_routing_predictor(req, n_cls, required=latency)
    seed_everything(cfg.train.seed)
    supernet = space.supernet(n_cls, **cfg.supernet)
    where = (f"routing space ({', '.join(f'{k} {v}' for k, v in cfg.supernet.items())}) on "
             f"'{req.device}' at {req.input_hw[0]}x{req.input_hw[1]}")
    if latency:
        from nas.search.latency_loss import check_target

        lo, hi = attainable_ms(predictor, supernet.topo, req.input_hw, n_cls)
        print(f"attainable latency of {where}: {lo:.3f} .. {hi:.3f} ms (predicted, gates "
              f"excluded); target {req.target_ms:g} ms", flush=True)
        check_target(float(req.target_ms), lo, hi, where)  # type: ignore[arg-type]
        if req.measure:  # a store from another machine: say so before the training
            from nas.export.measure import host_check

            host_check(req.device)
    else:
        print(f"FLOPs budget on {where}: lambda {cfg.lam:g}, mu {cfg.mu:g}", flush=True)
    save_config(req.folder, run_config)
    print(f"search run: {req.folder}/", flush=True)

    budget = BudgetConfig(lam=cfg.lam, mu=cfg.mu, start=cfg.start, ramp=cfg.ramp)
    loss = BudgetLoss(budget, req.input_hw, n_cls, predictor if latency else None,
                      float(req.target_ms) if latency else None)  # type: ignore[arg-type]
    (req.folder / STAGE).mkdir(parents=True, exist_ok=True)
    # the heads before the budget hook: wrapping probes a copy of the supernet, whose gate hooks
    # would otherwise report to the hook's recorder
    model = with_heads(supernet, req.boosters)  # the supernet itself when unboosted
    hook = BudgetHook(supernet, loss, cfg.train.iterations, req.folder / STAGE / BUDGET_LOG)
    ident = {"space": SPACE, "supernet": dict(cfg.supernet), "num_classes": n_cls,
             "stage": STAGE, **booster_record(req.boosters)}
    trained = fit_stage(STAGE, model, cfg.train, req.folder / STAGE, sd, identity=ident,
                        resume=req.resume, progress=req.progress,
                        extra_loss=stage_loss(hook, req.boosters),
                        optimizer=routing_optimizer(model, cfg))

    from nas.search.routing_finish import finish

    summary = finish(req, space, supernet, sd, predictor, trained)
    summary["boosters"] = booster_names(req.boosters)
    summary["time_s"] = round(time.perf_counter() - t_start, 1)
    write_outputs(req.folder, summary)
    return summary


def routing_optimizer(net: nn.Module, cfg: RoutingSearchConfig) -> Any:
    """None (the Trainer's SGD on everything, as the paper) or SGD + Adam on the gates."""
    if cfg.gate_lr <= 0:
        return None
    import torch

    from nas.search.optim import JointOptimizer, sgd_for

    gates = [p for n, p in net.named_parameters() if ".gate." in n]
    weights = [p for n, p in net.named_parameters() if ".gate." not in n]
    adam = torch.optim.Adam([{"params": gates, "lr_mult": cfg.gate_lr / cfg.train.lr}],
                            lr=cfg.gate_lr, betas=(0.5, 0.999), weight_decay=0.0)
    return JointOptimizer(sgd_for(weights, cfg.train), adam)


def merge_metrics(folder: Path) -> Path:
    """metrics.jsonl: the training metrics and the per-step budget log, tagged with the stage."""
    recs = read_jsonl(folder / STAGE / "metrics.jsonl") + read_jsonl(folder / STAGE / BUDGET_LOG)
    recs.sort(key=lambda r: (r.get("iter", 0), r.get("kind") != "budget"))
    return atomic_write_text(folder / "metrics.jsonl",
                             "".join(json.dumps({"stage": STAGE, **r}) + "\n" for r in recs))


def write_outputs(folder: Path, summary: dict[str, Any]) -> None:
    """summary.json and metrics.jsonl; prints the headline figures and what went where."""
    merge_metrics(folder)
    atomic_write_json(folder / "summary.json", summary)
    meas, pred = summary.get("measured_ms"), summary.get("predicted_ms")
    tgt = summary.get("target_ms")
    g = summary["report"]["gmacs"]
    eager = summary.get("eager_ms") or {}
    print(f"dynamic: {g['mean']:.4f} GMACs/image (min {g['min']:.4f}, max {g['max']:.4f}); "
          f"on '{summary['device']}' predicted {_ms(pred)}, measured {_ms(meas)}"
          + (f" (target {tgt:g} ms)" if tgt else ""), flush=True)
    if eager:
        print(f"eager, 1 thread: dynamic {_ms(eager.get('dynamic'))}, all-open supernet "
              f"{_ms(eager.get('all_open'))}, full static {_ms(eager.get('full_static'))}",
              flush=True)
    c = summary["common"]
    print(f"common network ({c['routes']} routes): {c['gmacs']:.4f} GMACs, predicted "
          f"{_ms(c.get('predicted_ms'))}, measured {_ms(c.get('measured_ms'))} "
          f"({c.get('measured_by')})", flush=True)
    print(f"wrote {folder}/: config.yaml arch.json summary.json metrics.jsonl subnet.pt "
          "report.md report.json search/checkpoints/", flush=True)


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f} ms"


def open_routing_run(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(saved run config, common-network arch) of a finished routing search (for nas export)."""
    from nas.arch import load_arch
    from nas.runs import load_config

    saved = load_config(folder)
    if saved.get("driver") != "routing":
        raise UserError(f"{folder}: not a routing search run (driver {saved.get('driver')!r})")
    if not (folder / "arch.json").is_file() or not (folder / "subnet.pt").is_file():
        raise UserError(f"{folder}: the search has not finished (no arch.json / subnet.pt); "
                        f"finish it with `nas search --space routing --name {folder.name} "
                        "--resume ...`")
    return saved, load_arch(folder / "arch.json")
