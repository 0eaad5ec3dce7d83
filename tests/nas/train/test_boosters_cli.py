"""`nas train --detail-guidance --boundary --slimmable` end to end on a tiny generated dataset."""

from __future__ import annotations

import json

import pytest
import yaml

from nas.cli.main import main
from nas.data.synth_cache import ensure_synth

FAST = ["--iters", "2", "--batch-size", "2", "--crop", "32x64", "--no-progress",
        "--ckpt-every", "1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return str(ensure_synth((32, 64), 4, 2, 0, root=tmp_path_factory.mktemp("d") / "synth"))


def test_slimmable_rtseg_run_exports_each_width_as_an_arch(tmp_path, monkeypatch, data, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["train", "--model", "rtseg-supernet", "--model-arg", "preset=tiny", "--data",
                 data, "--name", "slim", "--slimmable", "--slim-widths", "0.5,1.0",
                 "--detail-guidance", "--boundary", *FAST])
    assert code == 0
    run = tmp_path / "runs" / "slim"
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["boosters"]["slimmable"] and cfg["boosters"]["widths"] == [0.5, 1.0]
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["slim"]) == {"0.5", "1"}
    assert summary["slim"]["0.5"]["params"] < summary["slim"]["1"]["params"]
    assert (run / "slim" / "w0.50" / "arch.json").is_file()
    lines = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in lines if r["kind"] == "train"]
    assert {"detail", "slim_kd", "boundary", "guided"} <= set(train[-1])
    capsys.readouterr()
    # the exported width is an arch like any other: `nas eval --model ARCH --weights`
    w = run / "slim" / "w0.50"
    assert main(["eval", "--model", str(w / "arch.json"), "--weights", str(w / "weights.pt"),
                 "--data", data, "--name", "ev"]) == 0
    exported = json.loads((tmp_path / "runs" / "ev" / "summary.json").read_text())["miou"]
    assert main(["eval", "--run", str(run), "--width", "0.5"]) == 0
    in_run = json.loads((run / "eval-val.json").read_text())["miou"]
    assert exported == pytest.approx(in_run, abs=1e-6)


def test_detail_guidance_run_resumes_and_refuses_other_boosters(tmp_path, monkeypatch, data,
                                                                 capsys):
    monkeypatch.chdir(tmp_path)
    args = ["--model", "bisenetv2", "--model-arg", "width_mult=0.125", "--model-arg",
            "head_width=32", "--data", data, "--name", "dg", "--detail-guidance", *FAST]
    assert main(["train", *args]) == 0
    run = tmp_path / "runs" / "dg"
    # a finished run resumes to its end: the boosted module (with its detail head) is rebuilt
    # from config.yaml alone and the checkpoint loads into it
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    assert json.loads((run / "summary.json").read_text())["iterations"] == 2
    assert main(["eval", "--run", str(run)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--boundary", "--no-progress"]) == 2
    assert "is a run of" in capsys.readouterr().err


def test_bad_booster_flags_fail_in_one_line(tmp_path, monkeypatch, data, capsys):
    monkeypatch.chdir(tmp_path)
    base = ["train", "--model", "stdc1-seg", "--data", data, *FAST]
    assert main([*base, "--slim-widths", "0.5,1.0"]) == 2
    assert "needs --slimmable" in capsys.readouterr().err
    assert main([*base, "--slimmable", "--slim-widths", "1.0,0.5"]) == 2
    assert "increasing widths" in capsys.readouterr().err
    assert main([*base, "--slimmable", "--slim-widths", "a,b"]) == 2
    assert "expected numbers" in capsys.readouterr().err
