"""Boosters inside the gradient search: the heads train in the pretrain and search stages, the
derived subnet never holds them, and a resume with other boosters is refused."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml

import search_spaces
from nas.cli.main import main
from nas.models.counting import count_params
from nas.train.checkpoint import load_checkpoint

HW = (64, 128)  # the deployment input size the conftest predictor was fitted at
BOOSTER_TERMS = {"detail", "boundary", "guided"}


def _target() -> float:
    from latency.predictors import load_for_device
    from nas.search.latency_loss import attainable_range

    lo, hi = attainable_range("rtseg", {"preset": "tiny"}, load_for_device("cpu"), HW, 19)
    return round((lo + hi) / 2, 4)


def _search(data: Path, cfg: Path, name: str, *extra: str) -> int:
    return main(["search", "--space", "rtseg", "--target-ms", str(_target()), "--device", "cpu",
                 "--data", str(data), "--input-size", f"{HW[0]}x{HW[1]}", "--name", name,
                 "--config", str(cfg), "--no-progress", "--no-measure", *extra])


def _fast_config(tmp: Path) -> Path:
    path = tmp / "fast.yaml"
    stage = {"iterations": 2, "ckpt_every": 2, "log_every": 1}
    path.write_text(yaml.safe_dump({"preset": "tiny", "pretrain": stage, "search": stage}))
    return path


def _train_records(folder: Path) -> dict[str, list[dict]]:
    by_stage: dict[str, list[dict]] = {}
    for line in (folder / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec.get("kind") == "train":
            by_stage.setdefault(rec["stage"], []).append(rec)
    return by_stage


def test_boosted_search_trains_the_heads_in_both_stages_and_derives_a_plain_subnet(
        nas_env, synth_dir, capsys) -> None:
    cfg = _fast_config(nas_env)
    assert _search(synth_dir, cfg, "b", "--detail-guidance", "--boundary") == 0
    folder = nas_env / "runs" / "b"
    records = _train_records(folder)
    assert set(records) == {"pretrain", "search"}
    for stage, recs in records.items():  # the booster losses are computed in every step logged
        assert all(BOOSTER_TERMS <= set(r) for r in recs), stage
        assert all(r["detail"] > 0 and r["boundary"] > 0 for r in recs), stage
    assert all("lat" in r for r in records["search"])  # next to the search's own latency term
    assert yaml.safe_load((folder / "config.yaml").read_text())["boosters"]["boundary"]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["boosters"] == ["detail", "boundary"]
    assert (folder / "boosters.yaml").is_file()  # `nas retrain` trains with them too

    # the subnet is the unboosted arch: same keys, same parameter count, no head
    space = search_spaces.get("rtseg")
    arch = json.loads((folder / "arch.json").read_text())
    plain = space.build(arch, 19)
    weights = torch.load(folder / "subnet.pt", weights_only=True)
    assert set(weights) == set(plain.state_dict())
    plain.load_state_dict(weights)
    assert summary["params"] == count_params(plain)
    # the finished stages' checkpoints hold the supernet alone (the heads sit beside them):
    # `nas retrain` loads the pretrained supernet from there as its teacher
    for stage in ("pretrain", "search"):
        state = load_checkpoint(folder / stage / "checkpoints")["model"]
        assert not any(k.startswith("booster.") for k in state)
        space.supernet(19, preset="tiny").load_state_dict(state)
        heads = torch.load(folder / stage / "booster_heads.pt", weights_only=True)
        assert heads and all(k.startswith("booster.aux_heads.") for k in heads)

    # a resume with other boosters is refused, naming the key; with the same ones it finishes
    capsys.readouterr()
    assert _search(synth_dir, cfg, "b", "--resume", "--boundary") == 2
    err = capsys.readouterr().err
    assert "cannot resume with a changed config" in err and "boosters.detail" in err
    assert len(err.strip().splitlines()) == 1
    assert _search(synth_dir, cfg, "b", "--resume") == 2
    assert "boosters" in capsys.readouterr().err
    assert _search(synth_dir, cfg, "b", "--resume", "--detail-guidance", "--boundary") == 0
    assert capsys.readouterr().out.count("already done") == 2
    assert json.loads((folder / "summary.json").read_text())["boosters"] == ["detail", "boundary"]


def test_run_config_records_boosters_only_when_some_are_on(tmp_path) -> None:
    from nas.search.config import get_preset
    from nas.search.gradient import SearchRequest
    from nas.train.boosters import BoosterConfig

    def request(boosters: BoosterConfig | None) -> SearchRequest:
        return SearchRequest(space="rtseg", target_ms=1.0, device="cpu", input_hw=HW,
                             data="synth", cfg=get_preset("tiny"), folder=tmp_path,
                             boosters=boosters)

    # an unboosted run keeps the config it always had, so runs from before boosters resume
    assert "boosters" not in request(None).run_config(19)
    assert "boosters" not in request(BoosterConfig()).run_config(19)
    assert request(BoosterConfig(detail=True)).run_config(19)["boosters"]["detail"]


def test_slimmable_search_is_refused_in_one_line(nas_env, capsys) -> None:
    assert main(["search", "--space", "rtseg", "--target-ms", "5", "--slimmable"]) == 2
    err = capsys.readouterr().err
    assert "--slimmable: applies to `nas train`" in err and len(err.strip().splitlines()) == 1
    assert not (nas_env / "runs").exists()
