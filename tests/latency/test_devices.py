"""Device registry: built-ins, user files, `extends`, and errors that name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from latency.devices import get_device, load_devices, parse_input_size
from nas.errors import UserError


def _yaml(tmp_path: Path, text: str, name: str = "dev.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_builtins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NAS_HOME", str(tmp_path))
    devs = load_devices()
    assert {"cpu", "cpu-mt", "cuda", "trt", "litert", "s21", "s21-cpu"} <= set(devs)
    assert devs["cpu"].backend == "ort" and devs["cpu"].threads == 1 and devs["cpu"].pin_core
    assert devs["cuda"].provider == "cuda" and devs["cuda"].io_binding
    assert devs["trt"].provider == "tensorrt"
    assert devs["s21"].backend == "tflite-adb" and devs["s21"].use_gpu
    assert devs["s21"].input_size == (512, 1024) and devs["cpu"].input_size == (256, 512)
    assert not devs["s21-cpu"].use_gpu


def test_user_file_in_nas_home_and_extends(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NAS_HOME", str(tmp_path))
    _yaml(tmp_path, "pixel7:\n  extends: s21\n  serial: ABC123\n  cpu_mask: 'c0'\n",
          "devices.yaml")
    extra = _yaml(tmp_path, "cpu:\n  extends: cpu\n  rounds: 4\n")
    d = get_device("pixel7")
    assert d.backend == "tflite-adb" and d.use_gpu and d.serial == "ABC123"
    assert d.cpu_mask == "c0" and d.input_size == (512, 1024)
    assert get_device("cpu", [extra]).rounds == 4  # a later file overrides
    assert get_device("cpu").rounds == 10


@pytest.mark.parametrize("text,match", [
    ("x:\n  backend: ort\n  rounds: three\n", r"dev\.yaml: device 'x' key 'rounds': expected an "
                                               r"integer, got 'three'"),
    ("x:\n  backend: ort\n  rounds: 0\n", r"key 'rounds': expected >= 1"),
    ("x:\n  backend: ort\n  pin_core: 'yes'\n", r"key 'pin_core': expected true/false or an int"),
    ("x:\n  backend: ort\n  use_gpu: 1\n", r"key 'use_gpu': expected true/false, got 1"),
    ("x:\n  backend: ort\n  threds: 2\n", r"unknown key in .*dev\.yaml device 'x' 'threds'; "
                                          r"did you mean: threads"),
    ("x:\n  backend: onnx\n", r"key 'backend': expected one of ort, litert, tflite-adb"),
    ("x:\n  backend: ort\n  provider: rocm\n", r"key 'provider': expected one of cpu, cuda"),
    ("x:\n  backend: ort\n  input_size: [256]\n", r"key 'input_size': expected \[H, W\]"),
    ("x:\n  backend: tflite-adb\n  cpu_mask: big\n", r"key 'cpu_mask': expected a hex"),
    ("x:\n  rounds: 2\n", r"device 'x': missing key 'backend'"),
    ("x:\n  extends: nope\n", r"unknown device to extend .* 'nope'"),
    ("x: 3\n", r"device 'x': expected a mapping"),
    ("- a\n- b\n", r"expected a mapping of device name"),
    ("x: [\n", r"malformed YAML at line"),
])
def test_bad_entries_name_file_and_key(monkeypatch, tmp_path: Path, text: str,
                                       match: str) -> None:
    monkeypatch.setenv("NAS_HOME", str(tmp_path))
    with pytest.raises(UserError, match=match):
        load_devices([_yaml(tmp_path, text)])


def test_unknown_device_lists_known(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NAS_HOME", str(tmp_path))
    with pytest.raises(UserError, match=r"unknown device 's22'; did you mean: s21"):
        get_device("s22")
    with pytest.raises(UserError, match=r"unknown device 'zzz'; known: cpu, cpu-mt, cuda"):
        get_device("zzz")
    with pytest.raises(UserError, match="devices file not found"):
        load_devices([tmp_path / "missing.yaml"])


def test_parse_input_size() -> None:
    assert parse_input_size("512x1024") == (512, 1024)
    for bad in ("512", "ax3", "0x4"):
        with pytest.raises(UserError, match="--input-size"):
            parse_input_size(bad)
