"""TrainConfig validation: unknown keys and bad values name the file and the key."""

from __future__ import annotations

import pytest

from nas.errors import UserError
from nas.train.config import TrainConfig, load_train_config, parse_hw


def test_yaml_round_trip(tmp_path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("iterations: 50\nlr: 1\ncrop: [64, 128]\nohem: true\n")
    cfg = load_train_config(path)
    assert cfg.iterations == 50 and cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.crop == [64, 128] and cfg.ohem is True
    assert TrainConfig.from_dict(cfg.as_dict()) == cfg


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("iterationz: 5\n", "unknown key 'iterationz'"),
        ("iterations: many\n", "'iterations'"),
        ("iterations: 0\n", "'iterations'"),
        ("lr: -1\n", "'lr'"),
        ("crop: [64]\n", "'crop'"),
        ("ohem: 1\n", "'ohem'"),
        ("device: tpu\n", "'device'"),
        ("- a\n- b\n", "mapping"),
        ("lr: [\n", "malformed YAML"),
    ],
)
def test_bad_yaml_names_file_and_key(tmp_path, text: str, needle: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as err:
        load_train_config(path)
    msg = str(err.value)
    assert str(path) in msg and needle in msg and "\n" not in msg


def test_missing_file_and_parse_hw() -> None:
    with pytest.raises(UserError, match="not found"):
        load_train_config("/nonexistent/x.yaml")
    assert parse_hw("256x512") == [256, 512]
    assert parse_hw("64") == [64, 64]
    with pytest.raises(UserError, match="--crop"):
        parse_hw("axb")


def test_replace_validates_overrides() -> None:
    cfg = TrainConfig().replace(iterations=7, lr=None)
    assert cfg.iterations == 7 and cfg.lr == TrainConfig().lr
    with pytest.raises(UserError, match="batch_size"):
        TrainConfig().replace("command line", batch_size=0)
