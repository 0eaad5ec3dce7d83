"""Studies shared between workers: a real PostgreSQL server, and a killed worker's trial retried.

Both run `nas search` in subprocesses (a worker is a process), so they are slow tests.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nas.search.test_optuna_driver import HW, SIZE, _range, ffnet_home  # noqa: F401

pytestmark = pytest.mark.slow


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    hits = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return hits[-1] if hits else None


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a unix socket only (no TCP), removed afterwards."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed: "
                    "apt-get install -y postgresql")
    pytest.importorskip("psycopg2", reason="the `postgres` extra (psycopg2-binary) is missing")
    prefix: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="nas-pg-"))
    if os.geteuid() == 0:  # initdb refuses root: run the server as the `postgres` user
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to own the cluster")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, sock = root / "data", root
    run = lambda *cmd: subprocess.run([*prefix, *cmd], check=True, capture_output=True)  # noqa: E731
    try:
        run(initdb, "-D", str(data), "-A", "trust", "-U", "nas")
        run(pg_ctl, "-D", str(data), "-w", "-l", str(root / "log"), "-o",
            f"-k {sock} -c listen_addresses='' -p 54329", "start")
    except subprocess.CalledProcessError as err:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL cluster: {err.stderr.decode()[-200:]}")
    try:
        yield f"postgresql://nas@/postgres?host={sock}&port=54329"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _worker(cwd: Path, home: Path, data: Path, target: float, name: str, *extra: str,
            env: dict[str, str] | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "nas", "search", "--space", "ffnet", "--target-ms",
           f"{target:.6f}", "--device", "cpu", "--data", str(data), "--input-size", SIZE,
           "--preset", "tiny", "--name", name, "--no-progress", "--no-measure", *extra]
    full_env = {**os.environ, "NAS_HOME": str(home), "PYTHONPATH": str(Path.cwd()),
                **(env or {})}
    return subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_two_workers_share_one_postgres_study(postgres_url, ffnet_home, synth_dir,  # noqa: F811
                                              tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NAS_HOME", str(ffnet_home))
    _lo, hi = _range()
    shared = ("--storage", postgres_url, "--study-name", "shared", "--trials", "4")
    procs = [_worker(tmp_path, ffnet_home, synth_dir, hi, f"w{i}", *shared) for i in range(2)]
    outs = [p.communicate(timeout=400)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    import optuna

    from nas.search.optuna_study import _with_driver

    study = optuna.load_study(study_name="shared", storage=_with_driver(postgres_url))
    done = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert 4 <= len(done) <= 5  # MaxTrialsCallback: the last two may finish together
    assert len({t.user_attrs["worker"] for t in done}) == 2  # both workers ran trials
    for i in range(2):
        summary = json.loads((tmp_path / "runs" / f"w{i}" / "summary.json").read_text())
        assert summary["study"] == "shared"
        assert summary["storage"].startswith("postgresql://")
    # joining the shared study with another target is refused in one line
    p = _worker(tmp_path, ffnet_home, synth_dir, hi * 0.95, "w3", *shared)
    out = p.communicate(timeout=200)[0]
    assert p.returncode == 2 and "was created for another search" in out, out


def test_killed_worker_trial_is_retried(ffnet_home, synth_dir, tmp_path,  # noqa: F811
                                        monkeypatch) -> None:
    monkeypatch.setenv("NAS_HOME", str(ffnet_home))
    _lo, hi = _range()
    args = ("--trials", "2", "--heartbeat", "1")
    # the first trained trial is SIGKILLed at its 2nd step (the trainer's fault injection)
    p = _worker(tmp_path, ffnet_home, synth_dir, hi, "kill", *args,
                env={"NAS_FAULT_KILL_AT_ITER": "2"})
    out = p.communicate(timeout=200)[0]
    assert p.returncode != 0, out
    import optuna

    url = f"sqlite:///{tmp_path / 'runs' / 'kill' / 'study.db'}"
    killed = optuna.load_study(study_name="kill", storage=url).trials
    assert [t.state.name for t in killed] == ["RUNNING"]
    time.sleep(4)  # past the grace period (3 heartbeats)
    p = _worker(tmp_path, ffnet_home, synth_dir, hi, "kill", *args)
    out = p.communicate(timeout=300)[0]
    assert p.returncode == 0, out
    trials = optuna.load_study(study_name="kill", storage=url).trials
    assert trials[0].state.name == "FAIL"
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == 0]
    assert len(retried) == 1 and retried[0].params == trials[0].params
    assert retried[0].state.name == "COMPLETE"
