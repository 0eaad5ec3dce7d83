"""The measurement store: SQLite, WAL, append-only, one row per measurement.

Why SQLite: several profiling processes (one per phone) append to one file at once, a `kill -9`
must never corrupt it, and resuming must know exactly what is already measured. WAL lets readers
(the predictor trainer) read while workers write; every row is its own transaction, so a killed
run loses only what it was measuring; `UNIQUE(device, kind, key)` plus `INSERT OR IGNORE` makes
a resumed or duplicated worker harmless; triggers refuse UPDATE and DELETE, because a dataset
that silently changes under a trained predictor cannot be reproduced. A deliberate repeat
(`nas profile --remeasure-slow`) is a new row whose key carries a `#n` suffix (`base_key`
strips it); readers group rows by their spec or arch, not by this column.

Columns of `rows()` (JSON columns are strings; `block_specs(df)` decodes the spec column):
id, device, kind ('block'|'network'), op, key, spec (BlockSpec.to_dict JSON), arch (arch JSON),
blocks (JSON list of BlockSpec dicts of a network), space, input_shape (JSON list of shapes),
median_ms, p10_ms, p90_ms, cv, runs, versions (JSON), host, created (UTC ISO time), then
rounds, runtime, extra (JSON diagnostics).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from latency.blocks import BlockSpec
from latency.profilers.base import Measurement
from nas.errors import UserError
from nas.paths import store_path

KINDS = ("block", "network")
COLUMNS = (
    "id", "device", "kind", "op", "key", "spec", "arch", "blocks", "space", "input_shape",
    "median_ms", "p10_ms", "p90_ms", "cv", "runs", "versions", "host", "created",
    "rounds", "runtime", "extra",
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS measurements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('block', 'network')),
    op TEXT,
    key TEXT NOT NULL,
    spec TEXT,
    arch TEXT,
    blocks TEXT,
    space TEXT,
    input_shape TEXT,
    median_ms REAL NOT NULL,
    p10_ms REAL,
    p90_ms REAL,
    cv REAL,
    runs INTEGER,
    versions TEXT,
    host TEXT,
    created TEXT NOT NULL,
    rounds INTEGER,
    runtime TEXT,
    extra TEXT,
    UNIQUE (device, kind, key)
);
CREATE INDEX IF NOT EXISTS measurements_device_kind ON measurements (device, kind);
CREATE TRIGGER IF NOT EXISTS measurements_no_update BEFORE UPDATE ON measurements
BEGIN SELECT RAISE(ABORT, 'the measurement store is append-only'); END;
CREATE TRIGGER IF NOT EXISTS measurements_no_delete BEFORE DELETE ON measurements
BEGIN SELECT RAISE(ABORT, 'the measurement store is append-only'); END;
"""
BUSY_TIMEOUT_S = 120.0


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def block_key(spec: BlockSpec) -> str:
    """Stable string identity of a block: JSON of `BlockSpec.key()`."""
    return _dumps(list(spec.key()))


def arch_key(arch: dict[str, Any]) -> str:
    """Stable string identity of a network: its arch as canonical JSON."""
    return _dumps(arch)


def base_key(key: str) -> str:
    """The item key of a row: a repeat's key is the item's key plus `#n` (canonical JSON ends
    with `]` or `}`, so the suffix is unambiguous)."""
    i = key.rfind("#")
    return key if i < 0 or key.endswith(("]", "}")) else key[:i]


class Store:
    """Append-only SQLite store of latency measurements.

    Args:
        path: the database file (default `$NAS_HOME/latency.db`); created on first use.
        timeout_s: how long a writer waits for another process's lock before failing.
    """

    def __init__(self, path: str | os.PathLike | None = None, *,
                 timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path) if path is not None else store_path()
        if self.path.exists() and not self.path.is_file():
            raise UserError(f"{self.path}: store path is not a file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout_s = timeout_s
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        con = self._connect()

        def create() -> None:
            try:  # executescript commits first, so the script carries its own transaction
                con.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise

        exists = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
                             "'measurements'").fetchone()
        if not exists:  # readers of an existing store never need the write lock
            self._retry(create)

    # ------------------------------------------------------------------ connection
    def _connect(self) -> sqlite3.Connection:
        # A connection must not cross a fork: worker processes open their own.
        if self._conn is None or self._pid != os.getpid():
            try:
                con = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
                con.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
                self._retry(lambda: con.execute("PRAGMA journal_mode = WAL"))
                # NORMAL in WAL: a committed row survives a killed process; only an OS crash
                # may lose the last few commits, never the file's integrity.
                con.execute("PRAGMA synchronous = NORMAL")
            except sqlite3.DatabaseError as err:
                raise UserError(f"{self.path}: not a usable SQLite store ({err})") from None
            self._conn, self._pid = con, os.getpid()
        return self._conn

    def _retry(self, fn: Any) -> Any:
        """Retry on 'database is locked' beyond busy_timeout's own waiting (WAL switch, DDL)."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) and "busy" not in str(err):
                    raise
                if time.monotonic() > deadline:
                    raise UserError(f"{self.path}: store locked by another process for "
                                    f"{self.timeout_s:g} s") from None
                time.sleep(0.05)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE takes the write lock up front (no deadlock
        between two readers that both want to upgrade)."""
        con = self._connect()
        self._retry(lambda: con.execute("BEGIN IMMEDIATE"))
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self._retry(lambda: con.execute("COMMIT"))

    def close(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ writing
    def add(self, device: str, kind: str, key: str, *, measurement: Measurement,
            op: str | None = None, spec: BlockSpec | None = None,
            arch: dict[str, Any] | None = None, blocks: Sequence[BlockSpec] | None = None,
            space: str | None = None, input_shape: Sequence[Sequence[int]] | None = None,
            host: str | None = None, repeat: bool = False) -> bool:
        """Append one measurement; False (and no row) when (device, kind, key) is stored.

        `repeat`: the item is measured again on purpose; the row is stored under the next free
        `key#n`, so the first measurement stays and both are kept.
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        m = measurement
        row = {
            "device": device, "kind": kind, "op": op or (spec.op if spec else None), "key": key,
            "spec": _dumps(spec.to_dict()) if spec else None,
            "arch": _dumps(arch) if arch is not None else None,
            "blocks": _dumps([b.to_dict() for b in blocks]) if blocks is not None else None,
            "space": space,
            "input_shape": _dumps([list(s) for s in input_shape]) if input_shape else None,
            "median_ms": m.median_ms, "p10_ms": m.p10_ms, "p90_ms": m.p90_ms, "cv": m.cv,
            "runs": m.runs, "versions": _dumps(m.versions), "host": host or socket.gethostname(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "rounds": m.rounds, "runtime": m.runtime, "extra": _dumps(m.extra),
        }
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._tx() as con:
            if repeat:
                row["key"] = f"{key}#{self._next_repeat(con, device, kind, key)}"
            cur = con.execute(f"INSERT OR IGNORE INTO measurements ({cols}) VALUES ({marks})",
                              tuple(row.values()))
            return cur.rowcount == 1

    @staticmethod
    def _next_repeat(con: sqlite3.Connection, device: str, kind: str, key: str) -> int:
        cur = con.execute("SELECT key FROM measurements WHERE device = ? AND kind = ? AND "
                          "substr(key, 1, ?) = ?", (device, kind, len(key), key))
        taken = [k[len(key) + 1:] for (k,) in cur.fetchall() if k.startswith(key + "#")]
        return 1 + max((int(n) for n in taken if n.isdigit()), default=0)

    def add_block(self, device: str, spec: BlockSpec, measurement: Measurement, *,
                  space: str | None = None, repeat: bool = False) -> bool:
        """Append a block measurement keyed by `block_key(spec)`."""
        return self.add(device, "block", block_key(spec), measurement=measurement, spec=spec,
                        space=space, input_shape=spec.input_shapes(), repeat=repeat)

    def add_network(self, device: str, arch: dict[str, Any], blocks: Sequence[BlockSpec],
                    measurement: Measurement, *, input_shape: Sequence[Sequence[int]],
                    repeat: bool = False) -> bool:
        """Append a whole-network measurement keyed by `arch_key(arch)`, with its blocks."""
        return self.add(device, "network", arch_key(arch), measurement=measurement,
                        op="network", arch=arch, blocks=blocks, space=arch.get("space"),
                        input_shape=input_shape, repeat=repeat)

    # ------------------------------------------------------------------ reading
    def has(self, device: str, kind: str, key: str) -> bool:
        cur = self._connect().execute(
            "SELECT 1 FROM measurements WHERE device = ? AND kind = ? AND key = ?",
            (device, kind, key))
        return cur.fetchone() is not None

    def keys(self, device: str, kind: str) -> set[str]:
        """All stored keys of (device, kind): one query instead of `has` per item on resume."""
        cur = self._connect().execute(
            "SELECT key FROM measurements WHERE device = ? AND kind = ?", (device, kind))
        return {r[0] for r in cur.fetchall()}

    def count(self, device: str | None = None, kind: str | None = None) -> int:
        where, params = self._where(device, kind)
        return self._connect().execute(
            f"SELECT COUNT(*) FROM measurements{where}", params).fetchone()[0]

    def rows(self, device: str | None = None, kind: str | None = None) -> pd.DataFrame:
        """Measurements as a DataFrame (columns: `COLUMNS`), oldest first."""
        where, params = self._where(device, kind)
        return pd.read_sql_query(
            f"SELECT {', '.join(COLUMNS)} FROM measurements{where} ORDER BY id",
            self._connect(), params=params)

    def devices(self) -> list[str]:
        cur = self._connect().execute("SELECT DISTINCT device FROM measurements ORDER BY device")
        return [r[0] for r in cur.fetchall()]

    @staticmethod
    def _where(device: str | None, kind: str | None) -> tuple[str, tuple[str, ...]]:
        conds, params = [], []
        if device is not None:
            conds.append("device = ?")
            params.append(device)
        if kind is not None:
            conds.append("kind = ?")
            params.append(kind)
        return (" WHERE " + " AND ".join(conds) if conds else ""), tuple(params)

    def export(self, path: str | os.PathLike, fmt: str = "csv", *, device: str | None = None,
               kind: str | None = None) -> Path:
        """Write the rows to a CSV or Parquet file (atomically); returns the path."""
        from nas.io import atomic_write

        df = self.rows(device, kind)
        if fmt == "csv":  # FILE.csv.gz is gzipped (what experiments/results/latency-store keeps)
            gz = "gzip" if str(path).endswith(".gz") else None
            return atomic_write(path, lambda f: df.to_csv(f, index=False, compression=gz))
        if fmt == "parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise UserError("--format parquet needs pyarrow: pip install 'nas[parquet]'") \
                    from None
            return atomic_write(path, lambda f: df.to_parquet(f, index=False))
        raise UserError(f"--format: expected csv or parquet, got {fmt!r}")

    def import_rows(self, df: pd.DataFrame, source: str = "rows") -> tuple[int, int]:
        """Append exported rows (`export`'s columns; `id` is ignored); returns (added, skipped).

        Why: measurements are the expensive part of a device's predictor (a phone campaign
        takes hours) and a store is one machine's file; importing another store's export
        merges them. Rows keep their device, host, versions and time; a row whose (device,
        kind, key) is stored already is skipped, so importing twice adds nothing. One
        transaction: a bad row or a kill leaves the store as it was.
        """
        need = [c for c in COLUMNS if c != "id"]
        missing = [c for c in need if c not in df.columns]
        if missing:
            raise UserError(f"{source}: not a `nas profile export` file; missing column(s) "
                            f"{', '.join(missing)}")
        rows = df[need].astype(object).where(df[need].notna(), None)
        for i, (kind, ms) in enumerate(zip(rows["kind"], rows["median_ms"], strict=True)):
            if kind not in KINDS or not isinstance(ms, (int, float)) or ms <= 0:
                raise UserError(f"{source}: row {i + 1}: expected kind in {KINDS} and "
                                f"median_ms > 0, got kind={kind!r} median_ms={ms!r}")
        ints = ("runs", "rounds")
        values = [tuple(int(v) if c in ints and v is not None else v for c, v in zip(need, r,
                                                                                  strict=True))
                  for r in rows.itertuples(index=False, name=None)]
        sql = (f"INSERT OR IGNORE INTO measurements ({', '.join(need)}) "
               f"VALUES ({', '.join('?' for _ in need)})")
        with self._tx() as con:
            added = sum(con.execute(sql, v).rowcount for v in values)
        return added, len(values) - added


def read_export(path: str | os.PathLike) -> pd.DataFrame:
    """A file written by `Store.export` (CSV, gzipped CSV or Parquet), for `import_rows`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: export file not found")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, keep_default_na=True)  # compression from the name (.gz)
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not a readable CSV/Parquet export ({err})") from None


def block_specs(df: pd.DataFrame) -> list[BlockSpec]:
    """Decode the `spec` column of block rows into BlockSpecs (for predictors)."""
    return [BlockSpec.from_dict(json.loads(s)) for s in df["spec"]]
