"""Reading image and label files, turning every way a file can be bad into a `UserError`.

A corrupt or truncated PNG must name the file: a training run that dies at image 7,312 with a
zlib traceback leaves the user guessing which of 3,000 files to replace.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from nas.errors import UserError


def _open(path: Path, what: str) -> Image.Image:
    try:
        img = Image.open(path)
        img.load()  # decode now: Image.open is lazy and would defer the error to later
    except FileNotFoundError:
        raise UserError(f"{path}: {what} file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise UserError(f"{path}: corrupt or truncated {what} file ({err})") from None
    return img


def read_image(path: Path) -> np.ndarray:
    """An RGB image as uint8 [H, W, 3] (grey or RGBA inputs are converted)."""
    img = _open(path, "image")
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8)


def read_label(path: Path) -> np.ndarray:
    """A single-channel label map as uint8 [H, W]; values above 255 or colour labels are refused."""
    img = _open(path, "label")
    if img.mode in ("L", "P"):
        return np.asarray(img, dtype=np.uint8)
    if img.mode in ("I", "I;16", "I;16B", "I;16L"):
        arr = np.asarray(img)
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise UserError(
                f"{path}: label values must lie in 0..255, found {int(arr.min())}..{int(arr.max())}"
            )
        return arr.astype(np.uint8)
    raise UserError(
        f"{path}: expected a single-channel (grey or palette) label PNG, got {img.mode}"
    )


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) from the header only, without decoding the pixels."""
    try:
        with Image.open(path) as img:
            w, h = img.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise UserError(f"{path}: corrupt or truncated file ({err})") from None
    return h, w
