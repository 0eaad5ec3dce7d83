"""`nas retrain RUN --detail-guidance --boundary` on a tiny finished search, then `nas export`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

import search_spaces
from nas.cli.main import main
from nas.train.checkpoint import load_checkpoint

HW = (64, 128)


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> Path:
    """One tiny gradient search (the search tests' recipe: analytic predictor, tiny preset),
    given the booster flags, which it trains with and records for its fine-tuning."""
    from latency.predictors import load_for_device
    from nas.data.synth_cache import ensure_synth
    from nas.search.latency_loss import attainable_range
    from tests.nas.search.conftest import fit_analytic_predictor

    work = tmp_path_factory.mktemp("work")
    data = ensure_synth(HW, 6, 3, 0, root=work / "synth")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NAS_HOME", str(work / "home"))
        mp.chdir(work)
        fit_analytic_predictor("cpu", HW, n=120)
        lo, hi = attainable_range("rtseg", {"preset": "tiny"}, load_for_device("cpu"), HW, 19)
        assert main(["search", "--space", "rtseg", "--target-ms", str((lo + hi) / 2),
                     "--device", "cpu", "--data", str(data), "--input-size", "64x128",
                     "--name", "s", "--preset", "tiny", "--no-progress", "--no-measure",
                     "--detail-guidance", "--boundary"]) == 0
    return work / "runs" / "s"


@pytest.mark.slow  # a whole (tiny) search first: ~10 s on an idle core
def test_boosted_retrain_trains_the_heads_and_exports_the_plain_subnet(searched, monkeypatch):
    monkeypatch.setenv("NAS_HOME", str(searched.parent.parent / "home"))
    monkeypatch.chdir(searched.parent.parent)
    assert (searched / "boosters.yaml").is_file()
    # no flags: the boosters `nas search` recorded are used
    assert main(["retrain", str(searched), "--iters", "2", "--no-progress"]) == 0
    stage = searched / "retrain"
    cfg = yaml.safe_load((stage / "config.yaml").read_text())
    assert cfg["boosters"]["detail"] and cfg["boosters"]["boundary"]
    lines = [json.loads(s) for s in (stage / "metrics.jsonl").read_text().splitlines()]
    assert {"detail", "boundary", "guided", "kd"} <= set(next(r for r in lines
                                                            if r["kind"] == "train"))
    # the checkpoint the export reads is the subnet's own; the boosted one is kept as prev.pt
    arch = json.loads((searched / "arch.json").read_text())
    subnet = search_spaces.get("rtseg").build(arch, 19)
    subnet.load_state_dict(load_checkpoint(stage / "checkpoints" / "last.pt")["model"])
    prev = torch.load(stage / "checkpoints" / "prev.pt", weights_only=True)["model"]
    assert any(k.startswith("booster.aux_heads.") for k in prev)
    summary = json.loads((searched / "summary.json").read_text())
    assert summary["retrained"] and summary["retrain_boosters"]["detail"]
    # resuming the finished stage keeps it (and the boosters come from its config)
    assert main(["retrain", str(searched), "--iters", "2", "--resume", "--no-progress"]) == 0
    assert main(["export", str(searched), "--format", "onnx", "--no-measure"]) == 0


def test_retrain_booster_flags_parse_and_a_slim_flag_is_not_offered(capsys):
    from nas.cli.main import build_parser

    args = build_parser().parse_args(["retrain", "r", "--detail-guidance", "--boundary"])
    assert args.detail_guidance and args.boundary
    with pytest.raises(SystemExit):
        build_parser().parse_args(["retrain", "r", "--slimmable"])
    assert "unrecognized arguments: --slimmable" in capsys.readouterr().err

