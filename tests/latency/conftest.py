"""Shared fixtures of the latency tests."""

from __future__ import annotations

from pathlib import Path

import pytest

# A CPU device for tests: no waiting for a quiet machine (CI is never quiet), no redo.
TEST_DEVICES = """
cpu-test:
  extends: cpu
  quiet_wait: false
  max_redo: 0
  pin_core: false
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("NAS_HOME", str(tmp_path / "home"))
    devices = tmp_path / "devices.yaml"
    devices.write_text(TEST_DEVICES)
    return {"devices": devices, "store": tmp_path / "lat.db", "tmp": tmp_path}
