"""Where nas keeps state that outlives one run: the measurement store and trained predictors.

`$NAS_HOME` (default `~/.nas`) holds `latency.db` (SQLite measurement store) and
`predictors/<device>.pt`. Runs go to `./runs/<name>/` (see nas/runs.py). Tests point NAS_HOME at
a temp dir.
"""

from __future__ import annotations

import os
from pathlib import Path


def nas_home() -> Path:
    return Path(os.environ.get("NAS_HOME", Path.home() / ".nas")).expanduser()


def store_path() -> Path:
    return nas_home() / "latency.db"


def predictor_path(device: str) -> Path:
    return nas_home() / "predictors" / f"{device}.pt"
