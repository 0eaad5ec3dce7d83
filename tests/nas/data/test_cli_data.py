"""`nas data synth` and `nas data check` on good data."""

from __future__ import annotations

from pathlib import Path

from nas.cli.main import main
from nas.data import build_dataset


def test_synth_then_check(tmp_path: Path, capsys) -> None:
    out = tmp_path / "ds"
    assert (
        main(
            [
                "data",
                "synth",
                "--out",
                str(out),
                "--n",
                "3",
                "--n-val",
                "2",
                "--size",
                "48x96",
                "--seed",
                "7",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert str(out) in printed and "3 train + 2 val" in printed
    assert len(build_dataset(str(out), "train")) == 3
    assert len(build_dataset(str(out), "val")) == 2
    assert main(["data", "check", str(out)]) == 0
    report = capsys.readouterr().out
    assert str(out) in report and "cityscapes layout" in report
    assert "split train: 3 images" in report and "split val: 2 images" in report
    assert "problems: 0" in report and "road" in report


def test_check_counts_known_pixels(tiny_cityscapes: Path, capsys) -> None:
    assert main(["data", "check", str(tiny_cityscapes)]) == 0
    report = capsys.readouterr().out
    # train: 96 px of [road 24, car 24, bicycle 24, ignored 24] + 96 sky; val: 96 building
    assert "classes present: 5 of 19" in report
    line = next(ln for ln in report.splitlines() if " car " in ln)
    assert line.split()[-2:] == ["8.333", "1"]


def test_bad_size_argument(capsys) -> None:
    import pytest

    with pytest.raises(SystemExit) as exc:
        main(["data", "synth", "--out", "x", "--size", "big"])
    assert exc.value.code == 2
    assert "expected HxW" in capsys.readouterr().err
