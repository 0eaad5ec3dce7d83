"""The options of an Optuna search (`nas search --space ffnet`, `--tune`) and its sampler.

Shared by the FFNet driver, the `--tune` outer loop and the CLI, which validates them first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from nas.errors import UserError
from nas.search.optuna_space import FFNetChoices
from nas.train.config import RESUMABLE_KEYS

OBJECTIVES = ("miou", "latency")
SAMPLERS = ("tpe", "random", "nsga2")


@dataclass
class OptunaOptions:
    """The Optuna side of `nas search`.

    Args:
        trials: finished trials the study should hold (all workers together); re-running the
            command with the same value after a kill runs only the missing ones.
        storage: RDB URL; None for SQLite in the run folder.
        study_name: None for the run folder's name.
        objectives: ("miou",) or ("miou", "latency").
        sampler: tpe (single objective) / nsga2 (multi) by default; random for baselines.
        seed: sampler seed.
        choices: the part of the FFNet space searched.
        tune: gradient-search hyper-parameters of an outer loop (`--tune`; rtseg only).
        heartbeat_s, grace_s: a trial whose worker stopped beating for grace_s is retried.
    """

    trials: int = 20
    storage: str | None = None
    study_name: str | None = None
    objectives: tuple[str, ...] = ("miou",)
    sampler: str | None = None
    seed: int = 0
    choices: FFNetChoices = field(default_factory=FFNetChoices)
    tune: tuple[str, ...] = ()
    heartbeat_s: int = 30
    grace_s: int = 90

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise UserError(f"--trials: expected a positive integer, got {self.trials}")
        if not self.objectives or self.objectives[0] != "miou" or len(self.objectives) > 2 or (
                len(self.objectives) == 2 and self.objectives[1] != "latency"):
            raise UserError(f"--objectives {','.join(self.objectives)}: expected 'miou' or "
                            "'miou,latency'")
        if self.sampler is not None and self.sampler not in SAMPLERS:
            raise UserError(f"--sampler {self.sampler}: expected one of {', '.join(SAMPLERS)}")

    @property
    def multi(self) -> bool:
        return len(self.objectives) == 2


def make_sampler(opts: OptunaOptions) -> Any:
    """TPE (single objective) or NSGA-II (two). With a shared --storage each worker seeds its
    sampler from the OS: workers seeded alike would propose the same first candidates."""
    import optuna

    name = opts.sampler or ("nsga2" if opts.multi else "tpe")
    seed = None if opts.storage else opts.seed
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "nsga2":
        if not opts.multi:
            raise UserError("--sampler nsga2: needs --objectives miou,latency")
        return optuna.samplers.NSGAIISampler(seed=seed,
                                             population_size=max(4, min(50, opts.trials // 4)))
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, opts.trials // 2),
                                      multivariate=True)


def jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


def identity_train(cfg: Any) -> dict[str, Any]:
    return {k: v for k, v in cfg.as_dict().items() if k not in RESUMABLE_KEYS}
