"""Open (or re-open) the Optuna study of a search: storage URL, heartbeat retries, identity check.

- Storage: SQLite in the run folder by default (`runs/<name>/study.db`); a PostgreSQL URL lets
  workers on many machines share one study (each runs the same `nas search ... --storage URL`).
- A worker killed mid-trial leaves a RUNNING trial whose heartbeat stops; the next worker to
  start (or the re-run command) marks it FAILED after the grace period and Optuna's
  `RetryHeartbeatStaleTrialCallback` enqueues the same parameters again.
- The study remembers what it searches (space, target, device, input size, objectives, budgets)
  as user attributes: joining it with a different command is refused, naming the differences,
  instead of mixing two searches' trials in one ranking.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from nas.errors import UserError

STUDY_DB = "study.db"
HEARTBEAT_S = 30
GRACE_S = 90
MAX_RETRY = 2
IDENTITY_ATTR = "nas_identity"


def default_storage(folder: Path) -> str:
    return f"sqlite:///{(folder / STUDY_DB).resolve()}"


def redact(url: str) -> str:
    """The URL without its password (it is printed and written to summary.json)."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def open_storage(url: str, *, heartbeat_s: int = HEARTBEAT_S, grace_s: int = GRACE_S) -> Any:
    """An `RDBStorage` with heartbeats and retries; a URL that cannot connect is one line."""
    import warnings

    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    if not re.match(r"^(sqlite|postgresql|postgresql\+\w+|mysql(\+\w+)?)://", url):
        raise UserError(f"--storage {redact(url)}: expected sqlite:///FILE or "
                        "postgresql://USER@HOST[:PORT]/DB")
    shown = redact(url)
    if url.startswith("postgresql"):
        url = _with_driver(url)
    engine = {"pool_pre_ping": True}
    if url.startswith("postgresql"):
        engine["connect_args"] = {"connect_timeout": 10}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    retry = RetryHeartbeatStaleTrialCallback
    for attempt in range(4):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.8
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(url, engine_kwargs=engine, heartbeat_interval=heartbeat_s,
                                  grace_period=grace_s,
                                  heartbeat_stale_trial_callback=retry(max_retry=MAX_RETRY))
        except Exception as err:  # sqlalchemy's errors carry multi-line SQL and driver dumps
            text = str(getattr(err, "orig", None) or err).strip()
            # workers started together race to create the schema of a fresh database: the
            # loser sees the winner's tables half-made; once they exist, connecting works
            if attempt < 3 and ("duplicate key" in text or "already exists" in text):
                time.sleep(1 + attempt)
                continue
            first = text.splitlines() or [type(err).__name__]
            raise UserError(f"--storage {shown}: cannot connect ({first[0].strip()})") from None
    raise AssertionError("unreachable")


def _with_driver(url: str) -> str:
    """Name the installed PostgreSQL driver: SQLAlchemy 2.1 maps a bare postgresql:// to
    psycopg 3, while our `postgres` extra installs psycopg2."""
    import importlib.util

    if not url.startswith("postgresql://"):
        return url
    if importlib.util.find_spec("psycopg") is not None:
        return url
    if importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2://" + url[len("postgresql://"):]
    raise UserError(f"--storage {redact(url)}: PostgreSQL needs psycopg2; install the "
                    "`postgres` extra (pip install 'nas[postgres]')")


def open_study(storage: Any, name: str, identity: dict[str, Any], directions: list[str],
               sampler: Any, pruner: Any) -> Any:
    """Create the study or join the existing one; refuse one created for another search."""
    import optuna

    study = optuna.create_study(storage=storage, study_name=name, directions=directions,
                                sampler=sampler, pruner=pruner, load_if_exists=True)
    saved = study.user_attrs.get(IDENTITY_ATTR)
    if saved is None:
        if [d.name.lower() for d in study.directions] != [d.lower() for d in directions]:
            raise UserError(f"study '{name}' optimises {len(study.directions)} objective(s); "
                            f"this command has {len(directions)}: use another --study-name")
        study.set_user_attr(IDENTITY_ATTR, identity)
        for key in ("space", "target_ms", "device"):
            study.set_user_attr(key, identity[key])  # shown by optuna-dashboard
        return study
    from nas.runs import _get, config_diff

    diff = config_diff(saved, identity)
    if diff:
        detail = "; ".join(f"{k} {_get(saved, k)!r} (this command: {_get(identity, k)!r})"
                           for k in diff[:4])
        raise UserError(f"study '{name}' was created for another search: {detail}; use another "
                        "--name/--study-name or the original options")
    return study
