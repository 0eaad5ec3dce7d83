"""`nas model info|list`: the published counts, exactly, and one-line user errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nas.cli.main import main


def _info(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(["model", "info", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    "name, params, gmacs, shape",
    [
        ("bisenetv2", 3_358_627, "24.603", [1, 19, 512, 1024]),
        ("stdc1", 8_443_552, "0.806", [1, 1000]),
        ("stdc2", 12_474_016, "1.437", [1, 1000]),
        ("stdc1-seg", 8_275_104, "16.863", [1, 19, 512, 1024]),
    ],
)
def test_published_counts(
    capsys: pytest.CaptureFixture[str], name: str, params: int, gmacs: str, shape: list[int]
) -> None:
    info = _info(capsys, name)  # default input size and classes are the published ones
    assert info["params"] == params
    assert f"{info['macs'] / 1e9:.3f}" == gmacs
    assert info["output_shape"] == shape


def test_input_size_and_classes_options(capsys: pytest.CaptureFixture[str]) -> None:
    small = _info(capsys, "bisenetv2", "--input-size", "256x512", "--num-classes", "7")
    assert small["output_shape"] == [1, 7, 256, 512]
    full = _info(capsys, "bisenetv2", "--num-classes", "7")
    # MACs scale with pixels, except the context embedding's 1x1 conv on the pooled vector
    assert full["macs"] - 4 * small["macs"] == -3 * 128 * 128


def test_readable_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "info", "stdc1-seg"]) == 0
    out = capsys.readouterr().out
    assert "8.275 M" in out and "16.863 G" in out and "[1, 19, 512, 1024]" in out


def test_list_names_every_family(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["bisenetv2"]["family"] == "bisenetv2"
    assert rows["stdc1"]["family"] == "stdc-cls" and rows["stdc1"]["input_hw"] == [224, 224]
    assert rows["stdc2-seg"]["family"] == "stdc"
    assert main(["model", "list"]) == 0
    assert "stdc1-seg" in capsys.readouterr().out


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nas: error: "), err
    return err[0]


@pytest.mark.parametrize("size", ["512", "0x10", "ax b", "512x1024x3", "-4x8", "2.5x4"])
def test_bad_input_size(capsys: pytest.CaptureFixture[str], size: str) -> None:
    assert main(["model", "info", "bisenetv2", f"--input-size={size}"]) == 2
    assert "--input-size" in _one_error_line(capsys)


def test_bad_num_classes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "info", "bisenetv2", "--num-classes", "0"]) == 2
    assert "--num-classes" in _one_error_line(capsys)


def test_unknown_name_suggests_close_matches(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "info", "stdc1seg"]) == 2
    assert "stdc1-seg" in _one_error_line(capsys)


def test_bad_arch_file_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "arch.json"
    path.write_text('{"space": ')
    assert main(["model", "info", str(path)]) == 2
    assert str(path) in _one_error_line(capsys)


def test_console_script_exits_2_with_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nas", "model", "info", "bisenetv2", "--input-size", "big"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("nas: error: ")
