"""Fixtures for profiler tests: a fake `adb` on PATH whose phones are temp folders."""

from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# Real benchmark_model / onnxruntime_perf_test outputs (copied from public docs; see README.md).
FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class FakeAdb:
    """Handle on the fake adb's configuration; call `write()` after changing fields."""

    dir: Path
    devices: list[list[str]] = field(default_factory=lambda: [["R5CR10ABCDE", "device"]])
    output: Path = FIXTURES / "tflite_modern_info_prefix.txt"
    thermal: list[int] = field(default_factory=lambda: [0])

    @property
    def root(self) -> Path:
        return self.dir / "phones"

    @property
    def log(self) -> Path:
        return self.dir / "adb_log.jsonl"

    def write(self) -> None:
        cfg = {"devices": self.devices, "root": str(self.root), "output": str(self.output),
               "thermal": self.thermal, "log": str(self.log)}
        (self.dir / "config.json").write_text(json.dumps(cfg))

    def install_benchmark_model(self, serial: str,
                                path: str = "/data/local/tmp/benchmark_model") -> None:
        dest = self.root / serial / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text("#!fake benchmark_model\n")

    def calls(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def fake_adb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeAdb:
    """A fake adb first on PATH with one attached phone that has benchmark_model."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    launcher = bindir / "adb"
    script = Path(__file__).with_name("fake_adb.py")
    launcher.write_text(f"#!/bin/sh\nexec '{sys.executable}' '{script}' \"$@\"\n")
    launcher.chmod(launcher.stat().st_mode | stat.S_IEXEC)
    fake = FakeAdb(tmp_path / "adb_state")
    fake.dir.mkdir()
    fake.install_benchmark_model(fake.devices[0][0])
    fake.write()
    monkeypatch.setenv("FAKE_ADB_CONFIG", str(fake.dir / "config.json"))
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    return fake
