"""CLI plumbing: user errors are one line with exit 2; commands are discovered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nas.cli.main import build_parser, main


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_commands_are_discovered() -> None:
    choices = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert "data" in choices and "train" in choices and "model" in choices


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nas: error: "), err
    return err[0]


def test_unknown_model_lists_close_matches(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "info", "bisenetv3", "--json"]) == 2
    assert "bisenetv2" in _one_error_line(capsys)


@pytest.mark.parametrize(
    "content, expected",
    [
        ("{not json", "malformed JSON"),
        ("[1, 2]", "'space'"),
        (json.dumps({"space": "no-such-space"}), "unknown space"),
    ],
)
def test_malformed_arch_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    path = tmp_path / "arch.json"
    path.write_text(content)
    assert main(["model", "info", str(path), "--json"]) == 2
    line = _one_error_line(capsys)
    assert str(path) in line and expected in line
