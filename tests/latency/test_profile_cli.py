"""`nas profile`: real measurements into the store, resume after kill -9, export, errors."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latency.ops import conv_spec
from latency.store import Store, block_key
from nas.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
def _blocks_file(path: Path, n: int) -> list:
    specs = [conv_spec(4 + 2 * i, 8, 8, 8, k=1 + 2 * (i % 2)) for i in range(n)]
    path.write_text("".join(json.dumps(s.to_dict()) + "\n" for s in specs))
    return specs


def _args(env: dict[str, Path], blocks: Path, *extra: str) -> list[str]:
    return ["profile", "--device", "cpu-test", "--devices", str(env["devices"]),
            "--blocks", str(blocks), "--store", str(env["store"]), "--rounds", "1",
            "--runs", "1", "--warmup", "0", "--no-progress", *extra]


def test_profile_blocks_then_resume_adds_nothing(env, capsys) -> None:
    specs = _blocks_file(env["tmp"] / "b.jsonl", 3)
    assert main(_args(env, env["tmp"] / "b.jsonl", "--batch", "2")) == 0
    assert f"added 3 measurements to {env['store']}" in capsys.readouterr().out
    assert main(_args(env, env["tmp"] / "b.jsonl")) == 0
    assert "added 0 measurements" in capsys.readouterr().out
    df = Store(env["store"]).rows("cpu-test", "block")
    assert sorted(df.key) == sorted(block_key(s) for s in specs)
    assert (df.median_ms > 0).all() and (df.runtime == "onnxruntime").all()


def test_export(env, capsys) -> None:
    _blocks_file(env["tmp"] / "b.jsonl", 2)
    assert main(_args(env, env["tmp"] / "b.jsonl")) == 0
    out = env["tmp"] / "x.csv"
    assert main(["profile", "export", "--format", "csv", "--out", str(out),
                 "--store", str(env["store"])]) == 0
    assert f"wrote 2 rows to {out}" in capsys.readouterr().out
    assert len(pd.read_csv(out)) == 2


def test_export_gz_then_import_into_another_store(env, capsys) -> None:
    """The measured rows move between machines: export, import, import again adds nothing."""
    _blocks_file(env["tmp"] / "b.jsonl", 2)
    assert main(_args(env, env["tmp"] / "b.jsonl")) == 0
    out = env["tmp"] / "x.csv.gz"
    assert main(["profile", "export", "--out", str(out), "--store", str(env["store"])]) == 0
    assert out.read_bytes()[:2] == b"\x1f\x8b"  # gzip
    other = env["tmp"] / "other.db"
    for added, skipped in ((2, 0), (0, 2)):
        capsys.readouterr()
        assert main(["profile", "import", str(out), "--store", str(other)]) == 0
        assert f"imported {added} rows from {out} into {other} ({skipped} already stored)" \
            in capsys.readouterr().out
    a, b = Store(env["store"]).rows(), Store(other).rows()
    cols = [c for c in a.columns if c != "id"]
    pd.testing.assert_frame_equal(a[cols], b[cols])


def test_import_refuses_a_bad_file_and_leaves_the_store(env, capsys) -> None:
    _blocks_file(env["tmp"] / "b.jsonl", 2)
    assert main(_args(env, env["tmp"] / "b.jsonl")) == 0
    good = env["tmp"] / "x.csv"
    assert main(["profile", "export", "--out", str(good), "--store", str(env["store"])]) == 0
    df = pd.read_csv(good)
    other = env["tmp"] / "other.db"
    Store(other).import_rows(df.iloc[:1], "first")
    bad = df.copy()
    bad.loc[1, "kind"] = "layer"
    bad.to_csv(env["tmp"] / "bad.csv", index=False)
    df.drop(columns=["median_ms"]).to_csv(env["tmp"] / "cols.csv", index=False)
    for name, match in (("bad.csv", "row 2: expected kind"), ("cols.csv", "missing column"),
                        ("none.csv", "export file not found")):
        capsys.readouterr()
        assert main(["profile", "import", str(env["tmp"] / name), "--store", str(other)]) == 2
        assert match in capsys.readouterr().err
    assert len(Store(other).rows()) == 1  # nothing of a refused file is added


@pytest.mark.parametrize("argv,match", [
    (["profile", "--device", "s22"], "unknown device 's22'; did you mean: s21"),
    (["profile", "--device", "cpu"], "nothing to measure"),
    (["profile", "--device", "cpu", "--n", "5"], "--n needs at least one --space"),
    (["profile", "--device", "cpu", "--serial", "A", "--n", "1"], "--serial only applies"),
    (["profile", "--device", "cpu", "--blocks", "/nonexistent.jsonl"], "blocks file not found"),
    (["profile", "--device", "cpu", "--input-size", "12", "--n", "1", "--space", "x"],
     "--input-size: expected HxW"),
    (["profile", "export", "--out", "x.csv", "--store", "/nonexistent.db"], "store not found"),
])
def test_user_errors(env, capsys, argv, match) -> None:
    assert main(argv) == 2
    assert match in capsys.readouterr().err


def test_bad_blocks_line_names_file_and_line(env, capsys) -> None:
    bad = env["tmp"] / "bad.jsonl"
    bad.write_text(json.dumps(conv_spec(4, 4, 8, 8).to_dict()) + "\n{\"op\": \"conv\"}\n")
    assert main(_args(env, bad)) == 2
    assert "bad.jsonl: line 2: expected a BlockSpec" in capsys.readouterr().err


def _count(path: Path) -> int:
    try:
        con = sqlite3.connect(path, timeout=5)
        return con.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_kill_9_mid_run_then_resume_loses_and_duplicates_nothing(env) -> None:
    n = 12
    specs = _blocks_file(env["tmp"] / "b.jsonl", n)
    cmd = [sys.executable, "-m", "nas", *_args(env, env["tmp"] / "b.jsonl", "--batch", "1",
                                               "--rounds", "2")]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=os.environ.copy(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _count(env["store"]) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = Store(env["store"]).rows("cpu-test", "block")
    assert 3 <= len(before) < n, "kill landed outside the run; make the blocks slower"
    done = subprocess.run(cmd, cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"added {n - len(before)} measurements" in done.stdout
    after = Store(env["store"]).rows("cpu-test", "block")
    assert len(after) == n and after.key.is_unique
    assert set(after.key) == {block_key(s) for s in specs}
    # rows written before the kill are untouched (append-only)
    pd.testing.assert_frame_equal(after.iloc[:len(before)].reset_index(drop=True), before)
    con = sqlite3.connect(env["store"])
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.slow
def test_sampled_blocks_and_networks(env, capsys) -> None:
    """The real sampler and space: blocks plus one whole network with its block list."""
    argv = ["profile", "--device", "cpu-test", "--devices", str(env["devices"]),
            "--space", "rtseg", "--n", "4", "--networks", "1", "--input-size", "64x128",
            "--store", str(env["store"]), "--rounds", "1", "--runs", "1", "--warmup", "0",
            "--no-progress"]
    assert main(argv) == 0
    store = Store(env["store"])
    blocks, nets = store.rows("cpu-test", "block"), store.rows("cpu-test", "network")
    assert len(blocks) >= 1 and (blocks.space == "rtseg").all()
    assert len(nets) == 1 and json.loads(nets.input_shape[0]) == [[1, 3, 64, 128]]
    assert json.loads(nets.arch[0])["space"] == "rtseg" and json.loads(nets.blocks[0])
    assert main(argv) == 0 and "added 0 measurements" in capsys.readouterr().out


def test_batches_are_judged_against_the_hosts_usual_calibration(env) -> None:
    """The first batch of a fresh store sets the calibration reference of the later ones; a
    later campaign takes the stored rows' quiet speed, their 10th-percentile calibration (same
    host and runtime versions only)."""
    from latency.devices import get_device
    from latency.profilers import get_profiler
    from latency.profilers.campaign import calib_reference

    _blocks_file(env["tmp"] / "b.jsonl", 3)
    assert main(_args(env, env["tmp"] / "b.jsonl", "--batch", "2")) == 0
    df = Store(env["store"]).rows("cpu-test", "block").sort_values("id")
    extras = [json.loads(e) for e in df["extra"]]
    first = sorted(extras[0]["calib_ms"])[len(extras[0]["calib_ms"]) // 2]
    assert "calib_reference_ms" not in extras[0] and "calib_reference_ms" not in extras[1]
    assert extras[2]["calib_reference_ms"] == pytest.approx(first, rel=1e-3)

    versions = get_profiler(get_device("cpu")).versions()
    ref = calib_reference(Store(env["store"]), "cpu-test", versions)
    rows = [sorted(e["calib_ms"])[len(e["calib_ms"]) // 2] for e in extras]
    assert ref == pytest.approx(float(np.quantile(rows, 0.1)), rel=1e-3)
    assert ref <= sorted(rows)[1]
    assert calib_reference(Store(env["store"]), "cpu-test", {"onnxruntime": "0.0"}) is None
    assert calib_reference(Store(env["store"]), "other-device", versions) is None
