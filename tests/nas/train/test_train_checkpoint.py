"""Checkpoints: RNG round trip, prev.pt kept, unreadable last.pt falls back, temp files cleaned."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from nas.errors import UserError
from nas.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state


def test_rng_state_round_trip_through_weights_only_file(tmp_path) -> None:
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    save_checkpoint(tmp_path, {"iteration": 3, "rng": rng_state()})
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(load_checkpoint(tmp_path)["rng"])  # loads with weights_only=True
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_prev_kept_and_corrupt_last_falls_back(tmp_path, capsys) -> None:
    save_checkpoint(tmp_path, {"iteration": 1})
    save_checkpoint(tmp_path, {"iteration": 2})
    assert load_checkpoint(tmp_path)["iteration"] == 2
    (tmp_path / "last.pt").write_bytes(b"half a checkpoint")
    (tmp_path / ".last.pt.abc.tmp").write_bytes(b"stale")
    state = load_checkpoint(tmp_path)
    assert state["iteration"] == 1 and state["path"].endswith("prev.pt")
    assert "last.pt" in capsys.readouterr().err
    assert not list(tmp_path.glob(".*.tmp"))


def test_missing_or_unreadable_checkpoints_fail_with_one_line(tmp_path) -> None:
    with pytest.raises(UserError, match="no checkpoint"):
        load_checkpoint(tmp_path)
    (tmp_path / "last.pt").write_bytes(b"junk")
    with pytest.raises(UserError, match="no readable checkpoint"):
        load_checkpoint(tmp_path)
