"""experiments/configs: every search config loads and validates; the paper one is the paper's."""

from __future__ import annotations

from pathlib import Path

import pytest

import search_spaces
from nas.errors import UserError
from nas.search.config import PRESETS, load_search_config
from search_spaces.rtseg.config import resolve

CONFIGS = Path(__file__).resolve().parents[2] / "experiments" / "configs"


def test_every_config_loads_and_validates() -> None:
    files = sorted(CONFIGS.glob("*.yaml"))
    assert len(files) >= 2
    for path in files:
        cfg = load_search_config(path)
        search_spaces.get(cfg.space)  # a registered space
        resolve(cfg.supernet)  # whose size options are valid


def test_paper_config_has_the_papers_settings() -> None:
    cfg = load_search_config(CONFIGS / "rtseg-cityscapes-paper.yaml")
    assert cfg.as_dict() == PRESETS["paper"].as_dict()
    assert cfg.supernet == {"preset": "paper"}
    assert cfg.beta == 0.01  # RTSeg: beta 0.01, gamma 1.0, lambda 0.001
    assert (cfg.pretrain.iterations, cfg.search.iterations, cfg.retrain.iterations) == (
        160_000, 40_000, 40_000)
    for stage in (cfg.pretrain, cfg.search, cfg.retrain):
        assert stage.crop == [512, 1024] and stage.scales == [0.5, 0.75, 1.0, 2.0]
        assert stage.batch_size == 8 and stage.lr == 0.1 and stage.momentum == 0.9
        assert stage.poly_power == 0.9 and stage.aux_weight == 1.0
    assert cfg.search.kd_lambda == 0.001 and cfg.retrain.kd_lambda == 0.001


def test_cpu_config_is_the_cpu_preset() -> None:
    assert load_search_config(CONFIGS / "rtseg-cpu.yaml").as_dict() == PRESETS["cpu"].as_dict()


def test_bad_config_names_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("preset: tiny\nsearch: {iterationz: 3}\n")
    with pytest.raises(UserError, match=r"bad.yaml: search: unknown key 'iterationz'"):
        load_search_config(bad)
    bad.write_text("beta: -1\n")
    with pytest.raises(UserError, match=r"bad.yaml: 'beta' = -1.0; expected a number >= 0"):
        load_search_config(bad)
    bad.write_text("preset: huge\n")
    with pytest.raises(UserError, match="unknown search preset 'huge'"):
        load_search_config(bad)
