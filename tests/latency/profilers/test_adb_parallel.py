"""Several phones profile in parallel into one store (`--serial A --serial B`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FakeAdb

from latency.ops import conv_spec
from latency.store import Store
from nas.cli.main import main


@pytest.mark.slow
def test_two_serials_fill_one_store(fake_adb: FakeAdb, tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("litert_torch", reason="blocks reach phones as .tflite: needs the "
                                               "LiteRT converter (pip install 'nas[tflite]')")
    monkeypatch.setenv("NAS_HOME", str(tmp_path / "home"))
    serials = ["R5CR10AAAAA", "R5CR10BBBBB"]
    fake_adb.devices = [[s, "device"] for s in serials]
    for s in serials:
        fake_adb.install_benchmark_model(s)
    fake_adb.write()
    blocks = tmp_path / "b.jsonl"
    blocks.write_text("".join(json.dumps(conv_spec(4 + 4 * i, 8, 8, 8).to_dict()) + "\n"
                              for i in range(4)))
    store = tmp_path / "lat.db"
    argv = ["profile", "--device", "s21", "--blocks", str(blocks), "--store", str(store),
            "--serial", serials[0], "--serial", serials[1], "--rounds", "1", "--runs", "2",
            "--batch", "1", "--no-progress"]
    assert main(argv) == 0
    df = Store(store).rows("s21", "block")
    assert len(df) == 4 and df.key.is_unique
    by_serial = [json.loads(v)["serial"] for v in df.versions]
    assert sorted(set(by_serial)) == serials and by_serial.count(serials[0]) == 2
    assert list(df.median_ms) == pytest.approx([102.879] * 4)  # the replayed fixture
    pushes = {c["serial"] for c in fake_adb.calls() if c["argv"][0] == "push"}
    assert pushes == set(serials)
    assert main(argv) == 0  # resume: nothing left, nothing duplicated
    assert Store(store).count("s21") == 4
