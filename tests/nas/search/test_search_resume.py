"""A search killed in the middle of its search stage resumes to the uninterrupted result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HW = (64, 128)


def _run(cwd: Path, home: Path, data: Path, target: float, name: str, *extra: str,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "nas.cli.main", "search", "--space", "rtseg", "--target-ms",
           str(target), "--device", "cpu", "--data", str(data), "--input-size", "64x128",
           "--name", name, "--preset", "tiny", "--no-progress", "--no-measure", *extra]
    repo = Path(__file__).resolve().parents[3]
    full_env = {**os.environ, "NAS_HOME": str(home), "PYTHONPATH": str(repo), **(env or {})}
    return subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_killed_search_resumes_to_the_same_arch_and_weights(predictor_home, synth_dir,
                                                             tmp_path) -> None:
    from latency.predictors import load_predictor
    from nas.search.latency_loss import attainable_range

    pred = load_predictor(predictor_home / "predictors" / "cpu.pt", "cpu")
    lo, hi = attainable_range("rtseg", {"preset": "tiny"}, pred, HW, 19)
    target = round(lo + 0.2 * (hi - lo), 4)
    # the tiny preset pretrains 4 iterations, so iteration 6 is reached only in the search stage
    killed = _run(tmp_path, predictor_home, synth_dir, target, "k",
                  env={"NAS_FAULT_KILL_AT_ITER": "6"})
    assert killed.returncode != 0 and "killed after iteration 6" in killed.stderr
    assert not (tmp_path / "runs" / "k" / "arch.json").exists()
    resumed = _run(tmp_path, predictor_home, synth_dir, target, "k", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "[pretrain] already done" in resumed.stdout
    straight = _run(tmp_path, predictor_home, synth_dir, target, "s")
    assert straight.returncode == 0, straight.stderr

    k, s = tmp_path / "runs" / "k", tmp_path / "runs" / "s"
    assert json.loads((k / "arch.json").read_text()) == json.loads((s / "arch.json").read_text())
    wk = torch.load(k / "subnet.pt", weights_only=True)
    ws = torch.load(s / "subnet.pt", weights_only=True)
    assert wk.keys() == ws.keys()
    assert all(torch.equal(wk[n], ws[n]) for n in wk)
    lat_k = [json.loads(x)["expected_ms"] for x in (k / "search" / "latency.jsonl").open()]
    lat_s = [json.loads(x)["expected_ms"] for x in (s / "search" / "latency.jsonl").open()]
    assert lat_k == lat_s and len(lat_k) == 8
