"""Atomic writes: a failure half-way leaves the previous file intact and no temp files behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nas.io import atomic_write, atomic_write_json


def test_atomic_write_replaces(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.json"
    atomic_write_json(target, {"x": 1})
    atomic_write_json(target, {"x": 2})
    assert json.loads(target.read_text()) == {"x": 2}
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]


def test_failed_write_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    atomic_write_json(target, {"x": 1})

    def boom(f: object) -> None:
        f.write(b'{"x": ')  # type: ignore[attr-defined]
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, boom)
    assert json.loads(target.read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_written_file_has_default_permissions(tmp_path: Path) -> None:
    import os

    umask = os.umask(0o022)
    try:
        target = atomic_write_json(tmp_path / "a.json", {})
    finally:
        os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o644
