"""Run folders: auto names, config round trip, and the changed-config check of --resume."""

from __future__ import annotations

import re

import pytest

from nas.errors import UserError
from nas.runs import check_same_config, config_diff, load_config, run_dir, save_config


def test_auto_name_and_collision(tmp_path) -> None:
    a = run_dir(None, "train", model="bisenetv2", root=tmp_path)
    assert re.fullmatch(r"train-bisenetv2-\d{8}-\d{6}", a.name)
    a.mkdir()
    b = run_dir(None, "train", model="bisenetv2", root=tmp_path)
    assert b != a  # same second: suffixed, never reused
    assert run_dir(None, "search", model="/x/y/arch.json", root=tmp_path).name.startswith(
        "search-arch-"
    )
    assert run_dir("mine", "train", root=tmp_path) == tmp_path / "mine"
    with pytest.raises(UserError, match="--name"):
        run_dir("../escape", "train", root=tmp_path)


def test_config_round_trip_and_errors(tmp_path) -> None:
    cfg = {"model": "bisenetv2", "train": {"lr": 0.01, "crop": [256, 512]}}
    save_config(tmp_path, cfg)
    assert load_config(tmp_path) == cfg
    (tmp_path / "sub").mkdir()
    with pytest.raises(UserError, match="not a run folder"):
        load_config(tmp_path / "sub")
    with pytest.raises(UserError, match="run folder not found"):
        load_config(tmp_path / "missing")


def test_config_diff_lists_nested_keys() -> None:
    old = {"model": "a", "train": {"lr": 0.01, "iterations": 10, "crop": [1, 2]}}
    new = {"model": "a", "train": {"lr": 0.02, "iterations": 10.0, "crop": (1, 2), "x": 1}}
    assert config_diff(old, new) == ["train.lr", "train.x"]


def test_check_same_config_refuses_with_the_keys(tmp_path) -> None:
    old = {"train": {"lr": 0.01, "device": "cpu", "batch_size": 4}}
    new = {"train": {"lr": 0.02, "device": "cuda", "batch_size": 8}}
    with pytest.raises(UserError) as err:
        check_same_config(tmp_path, old, new, allowed={"device"})
    msg = str(err.value)
    assert "train.lr (0.01 -> 0.02)" in msg and "train.batch_size" in msg
    assert "device" not in msg and "\n" not in msg
    check_same_config(tmp_path, old, {"train": {**old["train"], "device": "cuda"}}, {"device"})
