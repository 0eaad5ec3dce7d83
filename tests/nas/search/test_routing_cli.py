"""`nas search --space routing` end to end at test size: outputs, export of the common network,
budget direction, resume, and the one-line refusals."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import search_spaces
from nas.cli.main import main

HW = (64, 128)
SIZE = f"{HW[0]}x{HW[1]}"
TINY = {"num_layers": 4, "width_mult": 0.125, "small_gate": True}
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def routing_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A NAS_HOME whose `cpu` predictor knows the tiny routing blocks (analytic labels: real
    MLP fit on real blocks; profiling them with ORT would take minutes on the shared host)."""
    from latency.predictors import MLPPredictor
    from latency.predictors.synthetic import label_blocks
    from latency.sampler import sample_blocks
    from nas.paths import predictor_path
    from search_spaces.routing import arch as arch_mod

    home = tmp_path_factory.mktemp("routing_home")
    with pytest.MonkeyPatch.context() as mp:  # session scope: no monkeypatch fixture
        mp.setenv("NAS_HOME", str(home))
        space = search_spaces.get("routing")
        blocks = sample_blocks(["routing"], 200, 0, HW, cfg={"routing": TINY})
        rng = random.Random(1)
        for _ in range(10):
            blocks += space.blocks(space.sample(rng, **TINY), HW)
        blocks += space.blocks(arch_mod.full_arch(arch_mod.parse_cfg(TINY)[0]), HW)
        rows = label_blocks(list({b.key(): b for b in blocks}.values()), device="cpu")
        MLPPredictor(device="cpu", epochs=150, seed=0).fit(rows).save(predictor_path("cpu"))
    return home


@pytest.fixture
def env(routing_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NAS_HOME", str(routing_home))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _search(data: Path, name: str, *extra: str) -> int:
    return main(["search", "--space", "routing", "--device", "cpu", "--data", str(data),
                 "--input-size", SIZE, "--name", name, "--no-progress", "--preset", "tiny",
                 *extra])


def test_flops_budget_run_writes_everything_and_exports(env, synth_dir, capsys) -> None:
    assert _search(synth_dir, "f", "--budget", "flops", "--mu", "0.5", "--lambda", "0.8",
                   "--no-measure") == 0
    out = capsys.readouterr().out
    assert "FLOPs budget" in out and "runs/f/" in out and "nas export" in out
    folder = env / "runs" / "f"
    arch = json.loads((folder / "arch.json").read_text())
    space = search_spaces.get("routing")
    assert space.validate(arch)["budget"] == {"lambda": 0.8, "mu": 0.5}
    summary = json.loads((folder / "summary.json").read_text())
    for key in ("target_ms", "predicted_ms", "measured_ms", "miou", "params", "macs"):
        assert key in summary
    table = summary["report"]
    assert table["images"] == 3  # the synth val split
    assert table["gmacs"]["min"] <= table["gmacs"]["mean"] <= table["gmacs"]["max"]
    assert table["gmacs"]["max"] <= summary["supernet_gmacs"]
    report = json.loads((folder / "report.json").read_text())
    assert len(report["images"]) == 3
    assert "| dynamic |" in (folder / "report.md").read_text()
    recs = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]
    assert {r["kind"] for r in recs} >= {"budget", "train"}
    assert (folder / "search" / "checkpoints" / "last.pt").is_file()
    # the common network is a plain subnet: build() + subnet.pt, and nas export handles it
    subnet = space.build(arch, summary["num_classes"])
    subnet.load_state_dict(torch.load(folder / "subnet.pt", weights_only=True))
    assert main(["export", str(folder), "--no-measure"]) == 0
    exported = json.loads((folder / "summary.json").read_text())["export"]
    assert exported["ok"] and exported["max_abs_diff"]["onnx"] <= 1e-4


@pytest.mark.parametrize("measure", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_latency_budget_run_reports_device_and_eager_figures(env, synth_dir, capsys,
                                                             measure) -> None:
    from latency.predictors import load_for_device
    from nas.search.routing import attainable_ms
    from search_spaces.routing import arch as arch_mod

    lo, hi = attainable_ms(load_for_device("cpu"), arch_mod.parse_cfg(TINY)[0], HW, 19)
    target = (lo + hi) / 2
    extra = [] if measure else ["--no-measure"]
    assert _search(synth_dir, "l", "--target-ms", f"{target:.4f}", *extra) == 0
    out = capsys.readouterr().out
    assert "attainable latency" in out
    summary = json.loads((env / "runs" / "l" / "summary.json").read_text())
    assert summary["budget"] == "latency" and summary["target_ms"] == pytest.approx(target, 1e-3)
    assert lo * 0.99 <= summary["predicted_ms"] <= hi * 1.01
    if measure:
        assert "eager, 1 thread" in out
        assert summary["measured_ms"] > 0 and "onnxruntime" in summary["measured_by"]
        assert summary["common"]["measured_ms"] > 0
        assert set(summary["eager_ms"]) == {"dynamic", "all_open", "full_static"}
        assert all(v > 0 for v in summary["eager_ms"].values())
    else:
        assert summary["measured_ms"] is None and summary["eager_ms"] == {}
    budget = [json.loads(x) for x in (env / "runs" / "l" / "search" / "budget.jsonl").open()]
    assert len(budget) == 10 and all("expected_ms" in r for r in budget)


@pytest.mark.parametrize("argv, message", [
    (["--budget", "flops", "--mu", "1.5"], "'mu' = 1.5; expected a number in (0, 1]"),
    (["--budget", "flops", "--mu", "0"], "expected a number in (0, 1]"),
    (["--target-ms", "1", "--config", "BAD_LAYERS"], "num_layers"),
    (["--target-ms", "1", "--config", "BAD_STRIDES"], "strides"),
    (["--target-ms", "1", "--num-layers", "0"], "num_layers"),
    (["--target-ms", "1", "--num-layers", "2"], "cannot reach stride 32"),
    (["--target-ms", "1", "--strides", "4,8,32"], "strides"),
    (["--target-ms", "1", "--strides", "4,8,x"], "comma-separated integers"),
    ([], "--target-ms: required with the latency budget"),
    (["--budget", "flops", "--mu", "0.2", "--target-ms", "3"], "not used by the FLOPs budget"),
    (["--target-ms", "1000"], "infeasible"),
    (["--target-ms", "1", "--beta", "1"], "--beta: only for --space rtseg"),
    (["--budget-preset", "dynamic-z"], "unknown budget preset 'dynamic-z'"),
])
def test_bad_input_is_one_line(env, synth_dir, capsys, argv, message) -> None:
    import yaml

    bad = {"BAD_LAYERS": {"preset": "tiny", "supernet": {"num_layers": 1, "width_mult": 0.125}},
           "BAD_STRIDES": {"preset": "tiny", "supernet": {"num_layers": 4,
                                                          "strides": [4, 16]}}}
    for i, a in enumerate(argv):
        if a in bad:
            path = env / f"{a}.yaml"
            path.write_text(yaml.safe_dump(bad[a]))
            argv = [*argv[:i], str(path), *argv[i + 1:]]
            argv = [x for x in argv if x != "--preset"]
    cmd = ["search", "--space", "routing", "--device", "cpu", "--data", str(synth_dir),
           "--input-size", SIZE, "--name", "bad", "--no-progress", *argv]
    if "--config" not in argv:
        cmd += ["--preset", "tiny"]
    assert main(cmd) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nas: error: ") and message in err[0]


def test_routing_options_are_refused_for_rtseg(env, capsys) -> None:
    assert main(["search", "--space", "rtseg", "--target-ms", "1", "--mu", "0.1"]) == 2
    assert "--mu: only for --space routing" in capsys.readouterr().err
    assert main(["search", "--space", "rtseg", "--target-ms", "1", "--num-layers", "4"]) == 2
    assert "--num-layers: only for --space routing" in capsys.readouterr().err


@pytest.mark.slow
def test_resume_after_kill_is_exact(env, synth_dir) -> None:
    """Killed mid-training (SIGKILL after step 7), resumed: the same weights as one run."""
    base = [sys.executable, "-m", "nas.cli.main", "search", "--space", "routing", "--device",
            "cpu", "--data", str(synth_dir), "--input-size", SIZE, "--no-progress", "--preset",
            "tiny", "--budget", "flops", "--mu", "0.3", "--no-measure"]
    run_env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([*base, "--name", "whole"], check=True, env=run_env, cwd=env)
    killed = subprocess.run([*base, "--name", "cut"], env={**run_env,
                            "NAS_FAULT_KILL_AT_ITER": "7"}, cwd=env)
    assert killed.returncode != 0
    subprocess.run([*base, "--name", "cut", "--resume"], check=True, env=run_env, cwd=env)
    a = torch.load(env / "runs/whole/search/checkpoints/last.pt", weights_only=False)["model"]
    b = torch.load(env / "runs/cut/search/checkpoints/last.pt", weights_only=False)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    wa = json.loads((env / "runs/whole/arch.json").read_text())
    assert wa == json.loads((env / "runs/cut/arch.json").read_text())


@pytest.mark.slow
def test_lower_target_gives_a_faster_dynamic_network(env, synth_dir, tmp_path) -> None:
    """Two latency targets, more steps: the predicted mean latency follows the target."""
    import yaml

    from latency.predictors import load_for_device
    from nas.search.routing import attainable_ms
    from search_spaces.routing import arch as arch_mod

    lo, hi = attainable_ms(load_for_device("cpu"), arch_mod.parse_cfg(TINY)[0], HW, 19)
    cfg = tmp_path / "long.yaml"
    cfg.write_text(yaml.safe_dump({"preset": "tiny", "lam": 5.0, "start": 0.2,
                                   "train": {"iterations": 60, "ckpt_every": 200}}))
    got = {}
    for name, frac in (("low", 0.3), ("high", 0.8)):
        target = lo + frac * (hi - lo)
        assert main(["search", "--space", "routing", "--device", "cpu", "--data",
                     str(synth_dir), "--input-size", SIZE, "--name", name, "--no-progress",
                     "--config", str(cfg), "--target-ms", f"{target:.4f}", "--no-measure"]) == 0
        got[name] = json.loads((env / "runs" / name / "summary.json").read_text())
    assert got["low"]["predicted_ms"] < got["high"]["predicted_ms"]
    # the low target is well below the all-open network: the budget really closed routes
    assert got["low"]["predicted_ms"] < lo + 0.6 * (hi - lo)
