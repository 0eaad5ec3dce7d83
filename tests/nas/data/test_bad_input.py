"""Every bad input is a one-line UserError naming the file and what was expected."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_helpers import cityscapes_pair, write_png

from nas.cli.main import main
from nas.data import build_dataset
from nas.errors import UserError

IMG = "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png"
LBL = "gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png"


def _cli_error(capsys, argv: list[str]) -> str:
    """Run the CLI; it must return 2 and print exactly one `nas: error:` line on stderr."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nas: error: "), err
    return err


def test_missing_dataset_dir(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(UserError, match="dataset directory not found"):
        build_dataset(str(missing))
    assert str(missing) in _cli_error(capsys, ["data", "check", str(missing)])


def test_unrecognised_layout(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unrecognised dataset layout"):
        build_dataset(str(tmp_path))


def test_missing_split(tiny_cityscapes: Path) -> None:
    with pytest.raises(UserError, match="leftImg8bit/test: split folder not found"):
        build_dataset(str(tiny_cityscapes), "test")


def test_image_without_label(tiny_cityscapes: Path, capsys) -> None:
    (tiny_cityscapes / LBL).unlink()
    with pytest.raises(UserError, match="image has no label; expected .*gtFine_labelIds.png"):
        build_dataset(str(tiny_cityscapes), "train")
    assert "aachen_000000_000019_leftImg8bit.png" in _cli_error(
        capsys, ["data", "check", str(tiny_cityscapes)]
    )


def test_label_without_image(tiny_cityscapes: Path, capsys) -> None:
    (tiny_cityscapes / IMG).unlink()
    with pytest.raises(UserError, match="label has no image"):
        build_dataset(str(tiny_cityscapes), "train")
    _cli_error(capsys, ["data", "check", str(tiny_cityscapes)])


def test_plain_image_without_mask(tiny_plain: Path) -> None:
    (tiny_plain / "masks" / "b.png").unlink()
    with pytest.raises(UserError, match=r"b\.jpg: image has no mask"):
        build_dataset(str(tiny_plain))


@pytest.mark.parametrize("which", [IMG, LBL])
def test_truncated_png_names_the_file(tiny_cityscapes: Path, capsys, which: str) -> None:
    path = tiny_cityscapes / which
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    ds = build_dataset(str(tiny_cityscapes), "train")  # pairing is fine: found at load time
    with pytest.raises(UserError, match=rf"{path.name}: corrupt or truncated"):
        ds[0]
    assert path.name in _cli_error(capsys, ["data", "check", str(tiny_cityscapes)])


def test_garbage_file_named_png(tiny_cityscapes: Path) -> None:
    (tiny_cityscapes / IMG).write_bytes(b"not a png at all")
    with pytest.raises(UserError, match="corrupt or truncated image"):
        build_dataset(str(tiny_cityscapes), "train")[0]


def test_size_mismatch(tiny_cityscapes: Path, capsys) -> None:
    write_png(tiny_cityscapes / LBL, np.full((8, 10), 7, np.uint8))
    with pytest.raises(UserError, match="label is 8x10 but its image .* is 8x12"):
        build_dataset(str(tiny_cityscapes), "train")[0]
    _cli_error(capsys, ["data", "check", str(tiny_cityscapes)])


def test_unknown_cityscapes_label_id(tiny_cityscapes: Path, capsys) -> None:
    ids = np.full((8, 12), 7, np.uint8)
    ids[0, 0] = 40
    cityscapes_pair(tiny_cityscapes, "train", "aachen", "aachen_000000_000019", ids)
    with pytest.raises(UserError, match="unknown Cityscapes labelId.*: 40"):
        build_dataset(str(tiny_cityscapes), "train")[0]
    assert "40" in _cli_error(capsys, ["data", "check", str(tiny_cityscapes)])


def test_plain_mask_value_outside_classes(tiny_plain: Path, capsys) -> None:
    write_png(tiny_plain / "masks" / "a.png", np.full((6, 10), 5, np.uint8))
    with pytest.raises(UserError, match=r"a\.png: mask value\(s\) outside classes.yaml.*: 5"):
        build_dataset(str(tiny_plain))[0]
    _cli_error(capsys, ["data", "check", str(tiny_plain)])


def test_colour_label_png_is_refused(tiny_plain: Path) -> None:
    write_png(tiny_plain / "masks" / "a.png", np.zeros((6, 10, 3), np.uint8))
    with pytest.raises(UserError, match="expected a single-channel"):
        build_dataset(str(tiny_plain))[0]


def test_bad_crop_and_scales(tiny_cityscapes: Path) -> None:
    with pytest.raises(UserError, match="crop_hw"):
        build_dataset(str(tiny_cityscapes), crop_hw=(0, 4))
    with pytest.raises(UserError, match="scales"):
        build_dataset(str(tiny_cityscapes), scales=())


def test_check_reports_every_problem(tiny_cityscapes: Path, capsys) -> None:
    (tiny_cityscapes / LBL).unlink()
    val_lbl = next((tiny_cityscapes / "gtFine" / "val").rglob("*.png"))
    val_lbl.write_bytes(b"\x89PNG broken")
    err = _cli_error(capsys, ["data", "check", str(tiny_cityscapes)])
    assert "2 problem(s)" in err
