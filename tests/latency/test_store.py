"""The measurement store: append-only, de-duplicated, WAL, safe with concurrent writers."""

from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from latency.ops import conv_spec
from latency.profilers.base import Measurement
from latency.store import COLUMNS, Store, arch_key, block_key, block_specs
from nas.errors import UserError


def _m(ms: float = 1.0) -> Measurement:
    return Measurement(ms, 0.9 * ms, 1.2 * ms, 0.05, 9, 3, "onnxruntime",
                       {"onnxruntime": "1.0"}, {"round_medians_ms": [ms]})


def test_add_dedupes_and_rows_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    spec = conv_spec(8, 16, 32, 32)
    assert store.add_block("cpu", spec, _m(1.0), space="rtseg")
    assert not store.add_block("cpu", spec, _m(2.0))  # resume never duplicates
    assert store.add_block("s21", spec, _m(3.0))  # same block, other device
    assert store.has("cpu", "block", block_key(spec))
    assert not store.has("cpu", "network", block_key(spec))
    df = store.rows("cpu", "block")
    assert list(df.columns) == list(COLUMNS) and len(df) == 1
    row = df.iloc[0]
    assert row.median_ms == 1.0 and row.op == "conv" and row.space == "rtseg"
    assert json.loads(row.input_shape) == [[1, 8, 32, 32]]
    assert json.loads(row.versions) == {"onnxruntime": "1.0"} and row.runs == 9
    assert block_specs(df) == [spec]
    assert store.devices() == ["cpu", "s21"]


def test_network_rows_keep_arch_and_blocks(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    arch = {"space": "rtseg", "widths": [8, 16]}
    blocks = [conv_spec(3, 8, 64, 64, stride=2), conv_spec(8, 16, 32, 32)]
    assert store.add_network("cpu", arch, blocks, _m(5.0), input_shape=[(1, 3, 64, 64)])
    assert not store.add_network("cpu", dict(reversed(arch.items())), blocks, _m(5.0),
                                 input_shape=[(1, 3, 64, 64)])  # key ignores dict order
    row = store.rows("cpu", "network").iloc[0]
    assert row.key == arch_key(arch) and json.loads(row.arch) == arch
    assert [d["cin"] for d in json.loads(row.blocks)] == [3, 8] and row.space == "rtseg"


def test_append_only_and_wal(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.add_block("cpu", conv_spec(4, 4, 8, 8), _m())
    con = sqlite3.connect(tmp_path / "s.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    for sql in ("UPDATE measurements SET median_ms = 0", "DELETE FROM measurements"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            con.execute(sql)
    with pytest.raises(ValueError, match="kind"):
        store.add("cpu", "layer", "k", measurement=_m())


def test_export_csv_and_parquet(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    for c in (4, 8, 16):
        store.add_block("cpu", conv_spec(c, c, 8, 8), _m(c / 4))
    csv = pd.read_csv(store.export(tmp_path / "o.csv", "csv"))
    assert list(csv.median_ms) == [1.0, 2.0, 4.0]
    pytest.importorskip("pyarrow")
    pq = pd.read_parquet(store.export(tmp_path / "o.parquet", "parquet"))
    assert list(pq.columns) == list(COLUMNS) and len(pq) == 3
    with pytest.raises(UserError, match="csv or parquet"):
        store.export(tmp_path / "o.xls", "xls")


def test_not_a_database(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_text("this is not sqlite, just text long enough to have a header............")
    with pytest.raises(UserError, match="bad.db: not a usable SQLite store"):
        Store(bad)


def _writer(path: str, offset: int, n: int) -> None:
    store = Store(path, timeout_s=60)
    for i in range(n):
        store.add_block("cpu", conv_spec(1 + (offset + i), 8, 8, 8), _m(float(i + 1)))


def test_two_processes_write_concurrently(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    Store(path)
    # fork: no re-import of torch per child (the store opens its own connection per pid)
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    # overlapping key ranges: 0..39 and 20..59 -> 60 distinct blocks
    procs = [ctx.Process(target=_writer, args=(path, off, 40)) for off in (0, 20)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    store = Store(path)
    df = store.rows("cpu", "block")
    assert len(df) == 60 and df.key.is_unique
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_waits_for_a_locked_store_then_writes(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "s.db"
    impatient = Store(path, timeout_s=0.2)
    locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    locker.execute("BEGIN IMMEDIATE")  # another writer holds the lock ...
    threading.Timer(0.5, lambda: locker.execute("COMMIT")).start()  # ... for half a second
    store = Store(path, timeout_s=30)
    assert store.add_block("cpu", conv_spec(4, 4, 8, 8), _m())  # waited, then wrote
    locker.execute("BEGIN IMMEDIATE")
    with pytest.raises(UserError, match="locked by another process"):
        impatient.add_block("cpu", conv_spec(8, 4, 8, 8), _m())
    locker.execute("ROLLBACK")
    assert Store(path).count() == 1


def test_a_repeat_is_a_new_row_under_the_next_free_suffix(tmp_path: Path) -> None:
    from latency.store import base_key

    store = Store(tmp_path / "s.db")
    spec = conv_spec(8, 8, 8, 8)
    assert store.add_block("d", spec, _m(1.0))
    assert not store.add_block("d", spec, _m(2.0))  # a resume: ignored
    assert store.add_block("d", spec, _m(3.0), repeat=True)
    assert store.add_block("d", spec, _m(4.0), repeat=True)
    rows = store.rows("d", "block")
    key = block_key(spec)
    assert list(rows.key) == [key, key + "#1", key + "#2"]
    assert list(rows.median_ms) == [1.0, 3.0, 4.0]
    assert {base_key(k) for k in rows.key} == {key}
    assert base_key('{"a":"x#1"}') == '{"a":"x#1"}'
