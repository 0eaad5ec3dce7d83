"""The adb profiler against a fake `adb` that replays real benchmark_model outputs."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from conftest import FIXTURES, FakeAdb

from latency.devices import get_device
from latency.profilers.adb import AdbProfiler
from nas.errors import UserError

SERIAL = "R5CR10ABCDE"
# avg (us) of the timed run in each real fixture
EXPECTED_US = {
    "tflite_modern_info_prefix.txt": 102879.0,
    "tflite_legacy_no_prefix.txt": 2.95034e06,
    "tflite_op_profiling_tail_tf_readme.txt": 79760.9,
}


def _profiler(**changes) -> AdbProfiler:
    dev = get_device("s21").with_(thermal_poll_s=0.01, **changes)
    return AdbProfiler(dev, rounds=2, runs=5, warmup=1)


def _bench_calls(fake: FakeAdb) -> list[dict]:
    """The benchmark_model invocations the fake phone received."""
    return [c for c in fake.calls()
            if any(w.startswith("--graph=") for cmd in c.get("commands", []) for w in cmd)]


def _model(tmp_path: Path, name: str = "block.tflite") -> Path:
    path = tmp_path / name
    path.write_bytes(b"TFL3 not a real model: the fake phone never reads it")
    return path


@pytest.mark.parametrize("fixture", sorted(EXPECTED_US))
def test_every_fixture_measures(fake_adb: FakeAdb, tmp_path: Path, fixture: str) -> None:
    fake_adb.output = FIXTURES / fixture
    fake_adb.write()
    m = _profiler().measure(_model(tmp_path))
    assert m.median_ms == pytest.approx(EXPECTED_US[fixture] / 1000)
    assert m.rounds == 2 and m.runtime == "tflite-benchmark_model"
    assert m.versions["model"] == "SM-G991B" and m.versions["serial"] == SERIAL
    assert m.extra["benchmark_last"]["count"] == 50
    bench = _bench_calls(fake_adb)
    assert len(bench) == 2  # one invocation per round
    words = bench[0]["commands"][0]
    assert words[:2] == ["taskset", "f0"]
    assert "--use_gpu=true" in words and "--num_runs=5" in words


def test_ort_perf_test_output_is_rejected_with_the_line(fake_adb: FakeAdb, tmp_path: Path) -> None:
    fake_adb.output = FIXTURES / "ort_perf_test_modern.txt"
    fake_adb.write()
    with pytest.raises(UserError, match="no inference timings.*P999 Latency"):
        _profiler().measure(_model(tmp_path))


def test_unparseable_output_shows_the_line(fake_adb: FakeAdb, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("INFO: STARTING!\nINFO: count=50 first=1 curr=2 min=1 max=3 avg=n/a std=1\n")
    fake_adb.output = bad
    fake_adb.write()
    with pytest.raises(UserError, match=r"avg='n/a'.*count=50 first=1"):
        _profiler().measure(_model(tmp_path))


def test_path_with_spaces_and_semicolon_stays_one_argument(fake_adb: FakeAdb,
                                                           tmp_path: Path) -> None:
    name = "my model;rm -rf x.tflite"
    m = _profiler().measure(_model(tmp_path, name))
    assert m.median_ms == pytest.approx(102.879)
    bench = _bench_calls(fake_adb)
    # the phone's shell saw exactly one command whose graph argument is the whole path
    assert len(bench[0]["commands"]) == 1
    assert f"--graph=/data/local/tmp/{name}" in bench[0]["commands"][0]
    assert shlex.split(bench[0]["argv"][1])[3] == f"--graph=/data/local/tmp/{name}"


def test_thermal_wait_until_cool(fake_adb: FakeAdb, tmp_path: Path) -> None:
    fake_adb.thermal = [3, 2, 0]
    fake_adb.write()
    m = _profiler().measure(_model(tmp_path))
    dumps = [c for c in fake_adb.calls() if c["argv"][1:2] == ["dumpsys thermalservice"]]
    assert len(dumps) == 4  # 3 checks before round 1 (3, 2, 0), one before round 2
    assert m.extra["thermal_wait_s"] > 0


def test_thermal_gives_up_when_never_cool(fake_adb: FakeAdb, tmp_path: Path) -> None:
    fake_adb.thermal = [4]
    fake_adb.write()
    with pytest.raises(UserError, match=r"still throttled \(Thermal Status: 4\)"):
        _profiler(thermal_max_wait_s=0.05).measure(_model(tmp_path))


def test_no_device_attached(fake_adb: FakeAdb) -> None:
    fake_adb.devices = []
    fake_adb.write()
    with pytest.raises(UserError, match="no adb device attached"):
        _profiler()


def test_unauthorized_device_is_not_ready(fake_adb: FakeAdb) -> None:
    fake_adb.devices = [[SERIAL, "unauthorized"]]
    fake_adb.write()
    with pytest.raises(UserError, match="no adb device attached"):
        _profiler()
    with pytest.raises(UserError, match="'unauthorized', not ready"):
        _profiler(serial=SERIAL)


def test_several_devices_need_a_serial(fake_adb: FakeAdb, tmp_path: Path) -> None:
    fake_adb.devices = [[SERIAL, "device"], ["R5CR10OTHER", "device"]]
    fake_adb.install_benchmark_model("R5CR10OTHER")
    fake_adb.write()
    with pytest.raises(UserError, match=f"several adb devices attached \\({SERIAL}, "
                                        "R5CR10OTHER\\).*--serial"):
        _profiler()
    m = _profiler(serial="R5CR10OTHER").measure(_model(tmp_path))
    assert m.versions["serial"] == "R5CR10OTHER"
    assert {c["serial"] for c in fake_adb.calls() if c["argv"][0] == "push"} == {"R5CR10OTHER"}


def test_unknown_serial(fake_adb: FakeAdb) -> None:
    with pytest.raises(UserError, match=f"'NOPE' is not attached \\(attached: {SERIAL}\\)"):
        _profiler(serial="NOPE")


def test_missing_benchmark_model_says_how_to_push(fake_adb: FakeAdb) -> None:
    (fake_adb.root / SERIAL / "data/local/tmp/benchmark_model").unlink()
    with pytest.raises(UserError, match="benchmark_model not found.*adb -s R5CR10ABCDE push "
                                        "benchmark_model /data/local/tmp/benchmark_model"):
        _profiler()


def test_adb_missing_from_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no adb anywhere
    with pytest.raises(UserError, match="adb not found on PATH.*apt-get install adb"):
        _profiler()


def test_non_tflite_file_is_refused(fake_adb: FakeAdb, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"model\.onnx: the tflite-adb backend times .tflite"):
        _profiler().measure(_model(tmp_path, "model.onnx"))


def test_pushed_model_is_removed_afterwards(fake_adb: FakeAdb, tmp_path: Path) -> None:
    _profiler().measure(_model(tmp_path))
    assert not (fake_adb.root / SERIAL / "data/local/tmp/block.tflite").exists()
    assert any(c["argv"][0] == "push" for c in fake_adb.calls())
