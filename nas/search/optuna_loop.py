"""Open a search's study in its run folder and run trials until the study holds enough.

Shared by the FFNet driver and the `--tune` outer loop: `--trials N` is the number of finished
trials the *study* should hold, so re-running a killed command, or starting it on more machines
against one `--storage`, runs only what is missing.
"""

from __future__ import annotations

from typing import Any

from nas.search.optuna_options import OptunaOptions, make_sampler


def open_run_study(req: Any, opts: OptunaOptions, identity: dict[str, Any],
                   pruner: Any) -> tuple[Any, str]:
    """Create the run folder and the study (or join it); prints where both are.

    The request's boosters join the identity: a study run with other boosters is refused.
    """
    from nas.runs import save_config
    from nas.search.optuna_study import default_storage, open_storage, open_study, redact
    from nas.train.boosters.search import booster_record

    identity = {**identity, **booster_record(getattr(req, "boosters", None))}
    req.folder.mkdir(parents=True, exist_ok=True)
    url = opts.storage or default_storage(req.folder)
    storage = open_storage(url, heartbeat_s=opts.heartbeat_s, grace_s=opts.grace_s)
    name = opts.study_name or req.folder.name
    directions = ["maximize", "minimize"] if opts.multi else ["maximize"]
    study = open_study(storage, name, identity, directions, make_sampler(opts), pruner)
    save_config(req.folder, {**identity, "study": name, "storage": redact(url),
                             "trials": opts.trials, "sampler": opts.sampler, "seed": opts.seed})
    print(f"optuna study '{name}' in {redact(url)}; run folder {req.folder}/", flush=True)
    return study, url


def run_trials(study: Any, objective: Any, opts: OptunaOptions, catch: tuple[type, ...]) -> None:
    """Run until the study holds `opts.trials` finished trials (shared by all workers)."""
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    done_states = (TrialState.COMPLETE, TrialState.PRUNED)
    have = len(study.get_trials(deepcopy=False, states=done_states))
    todo = opts.trials - have
    if todo <= 0:
        print(f"study already holds {have} finished trials (--trials {opts.trials}): "
              "nothing to run", flush=True)
        return
    if have:
        print(f"resuming: {have} finished trials, {todo} to go", flush=True)
    study.optimize(objective, n_trials=todo, catch=catch, gc_after_trial=True,
                   callbacks=[MaxTrialsCallback(opts.trials, states=done_states), _print_trial])


def _print_trial(study: Any, trial: Any) -> None:
    pred = trial.user_attrs.get("predicted_ms")
    if trial.state.name == "COMPLETE" and not trial.user_attrs.get("trained"):
        what = "rejected by the predictor (not trained)"
    elif trial.state.name == "COMPLETE":
        what = f"val mIoU {100 * trial.values[0]:.2f}%"
    else:
        what = trial.state.name.lower()
    ms = "n/a" if pred is None else f"{pred:.3f} ms"
    print(f"  trial {trial.number}: predicted {ms}, {what}", flush=True)
