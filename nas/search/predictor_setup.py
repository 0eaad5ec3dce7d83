"""Find the device's latency predictor, or build one (`--auto-profile`): profile, then train.

The profiling step is `nas profile` + `nas predictor train` with the blocks sampled from the
space at the size being searched: a predictor fitted on paper-size blocks would extrapolate on a
CPU-sized supernet, and its error would become the search's error.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latency.predictors import Predictor, load_for_device
from nas.errors import UserError
from nas.paths import predictor_path


@dataclass(frozen=True)
class ProfileBudget:
    """How much `--auto-profile` measures.

    Args:
        blocks: sampled blocks (half from random networks, half perturbations).
        networks: whole random networks (they fit the network-level correction).
        rounds, runs, warmup: the device's timing protocol, shortened.
        epochs: MLP training epochs.
    """

    blocks: int = 150
    networks: int = 12
    rounds: int = 3
    runs: int = 3
    warmup: int = 1
    epochs: int = 300


def no_predictor_message(device: str, space: str) -> str:
    return (
        f"device '{device}' has no latency predictor yet ({predictor_path(device)}); "
        f"profile it with `nas profile --device {device} --space {space} --n 2000 --networks 20`"
        f" and `nas predictor train --device {device}`, or add --auto-profile to do a small "
        "version of both now"
    )


def get_predictor(device: str, space: str, *, auto_profile: bool, supernet_cfg: dict[str, Any],
                  input_hw: tuple[int, int], num_classes: int,
                  budget: ProfileBudget | None = None, progress: bool = True) -> Predictor:
    """The device's predictor; with `auto_profile`, profile and train one when it is missing."""
    if not predictor_path(device).is_file():
        if not auto_profile:
            raise UserError(no_predictor_message(device, space))
        print(f"device '{device}' has no latency predictor yet: profiling it now "
              "(--auto-profile)", flush=True)
        auto_profile_device(device, space, supernet_cfg, input_hw, num_classes,
                            budget or ProfileBudget(), progress=progress)
    return load_for_device(device)


def auto_profile_device(device: str, space: str, supernet_cfg: dict[str, Any],
                        input_hw: tuple[int, int], num_classes: int, budget: ProfileBudget,
                        *, progress: bool = True, seed: int = 0) -> Path:
    """Measure sampled blocks and networks of `space` into the store, then train the MLP.

    Returns the saved predictor's path. Re-running after a kill measures only what is missing.
    """
    from latency.devices import get_device
    from latency.profilers.base import get_profiler
    from latency.profilers.campaign import NetworkItem, Plan, run_plan
    from latency.sampler import sample_blocks, sample_networks
    from latency.store import Store
    from nas.cli import cmd_predictor
    from nas.paths import store_path

    dev = get_device(device)
    overrides = {"rounds": budget.rounds, "runs": budget.runs, "warmup": budget.warmup}
    get_profiler(dev, **overrides)  # fail fast on a missing runtime or phone
    t0 = time.perf_counter()
    blocks = sample_blocks([space], budget.blocks, seed, input_hw, cfg={space: supernet_cfg})
    nets = [NetworkItem(arch, nb, input_hw, num_classes)
            for arch, nb in sample_networks(space, budget.networks, seed, input_hw, supernet_cfg)]
    plan = Plan(dev, blocks, nets, space)
    store = Store(store_path())
    todo = len(plan.pending(store))
    print(f"  profile: {len(blocks)} blocks + {len(nets)} networks of {space} at "
          f"{input_hw[0]}x{input_hw[1]} on '{device}' ({todo} to measure) -> {store.path}",
          flush=True)
    store.close()
    run_plan(plan, store_path(), batch=16, overrides=overrides, progress=progress)
    print(f"  profile: done in {time.perf_counter() - t0:.0f} s", flush=True)
    args = argparse.Namespace(device=device, store=None, predictor=None, out=None, json=False,
                              test_frac=0.2, seed=seed, epochs=budget.epochs)
    t1 = time.perf_counter()
    cmd_predictor.run_train(args)
    print(f"  predictor: trained in {time.perf_counter() - t1:.0f} s -> "
          f"{predictor_path(device)}", flush=True)
    sys.stdout.flush()
    return predictor_path(device)
