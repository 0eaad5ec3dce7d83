"""Training augmentations: random scale, crop, horizontal flip, colour jitter.

The randomness for sample `i` is a pure function of (dataset seed, epoch, i): each sample draws
from its own `numpy.random.Generator` seeded with that triple. So a resumed run, or a run with a
different number of DataLoader workers, sees exactly the same crops as the original run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
IGNORE_INDEX = 255


@dataclass(frozen=True)
class AugmentConfig:
    """What the training pipeline does to one (image, label) pair.

    Args:
        scales: the random-rescale factors, one picked uniformly per sample (the paper's set).
        crop_hw: output size; smaller images are padded (image with the mean, label with 255).
        flip: probability of a horizontal flip.
        brightness, contrast, saturation: jitter strength; the factor is drawn from [1-s, 1+s].
    """

    scales: tuple[float, ...] = (0.5, 0.75, 1.0, 1.5, 2.0)
    crop_hw: tuple[int, int] | None = None
    flip: float = 0.5
    brightness: float = 0.25
    contrast: float = 0.25
    saturation: float = 0.25


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator for one sample: a pure function of its three coordinates."""
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, index]))


def _rescale(image: np.ndarray, label: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    if scale == 1.0:
        return image, label
    h, w = label.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    image = np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))
    # Nearest for labels: interpolating class ids would invent classes at boundaries.
    label = np.asarray(Image.fromarray(label).resize(size, Image.NEAREST))
    return image, label


def _window(
    hw: tuple[int, int], crop_hw: tuple[int, int], rng: np.random.Generator | None
) -> tuple[slice, slice, slice, slice]:
    """Where a crop_hw window meets an hw image: (source rows, cols, destination rows, cols).

    The window is random (or centred when rng is None); where it falls outside the image the
    destination keeps its padding.
    """
    ends = []
    for size, crop in zip(hw, crop_hw, strict=True):
        span = abs(size - crop)
        pick = int(rng.integers(0, span + 1)) if rng is not None else span // 2
        src, dst = (pick, 0) if size >= crop else (0, pick)
        n = min(size - src, crop - dst)
        ends.append((slice(src, src + n), slice(dst, dst + n)))
    (sy, dy), (sx, dx) = ends
    return sy, sx, dy, dx


def _padded(image: np.ndarray, label: np.ndarray, crop_hw: tuple[int, int], win: tuple) -> tuple:
    """Place the cut-out window on a canvas padded with the mean (image) and 255 (label)."""
    sy, sx, dy, dx = win
    out_img = np.empty((*crop_hw, 3), dtype=np.float32)
    out_img[:] = IMAGENET_MEAN  # padded pixels become 0 after normalisation
    out_lbl = np.full(crop_hw, IGNORE_INDEX, dtype=np.uint8)
    out_img[dy, dx] = image
    out_lbl[dy, dx] = label[sy, sx]
    return out_img, out_lbl


def _jitter(image: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast and saturation on a [0, 1] float image, in a random order."""
    factors = {
        "b": rng.uniform(1 - cfg.brightness, 1 + cfg.brightness),
        "c": rng.uniform(1 - cfg.contrast, 1 + cfg.contrast),
        "s": rng.uniform(1 - cfg.saturation, 1 + cfg.saturation),
    }
    for key in rng.permutation(list(factors)):
        f = np.float32(factors[key])
        if key == "b":
            image = image * f
        elif key == "c":
            image = (image - image.mean()) * f + image.mean()
        else:
            grey = image @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
            image = (image - grey[..., None]) * f + grey[..., None]
        image = np.clip(image, 0.0, 1.0)
    return image


def augment(
    image: np.ndarray, label: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 RGB [H, W, 3] + uint8 trainIds -> float [0, 1] image + uint8 label, augmented.

    The draws happen in a fixed order (scale, flip, crop, jitter) so a sample depends only on
    its generator, never on which branch an earlier sample took.
    """
    image, label = _rescale(image, label, float(rng.choice(cfg.scales)))
    flip = bool(rng.random() < cfg.flip)
    if cfg.crop_hw is not None:
        win = _window(label.shape, cfg.crop_hw, rng)
        sy, sx = win[0], win[1]
        # Jitter only the cut-out pixels: cheaper, and the padding stays exactly the mean.
        img = _jitter(image[sy, sx].astype(np.float32) / 255.0, cfg, rng)
        img, label = _padded(img, label, cfg.crop_hw, win)
    else:
        img = _jitter(image.astype(np.float32) / 255.0, cfg, rng)
    if flip:
        img, label = img[:, ::-1], label[:, ::-1]
    return img, label


def center_crop(
    image: np.ndarray, label: np.ndarray, crop_hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The deterministic crop (or pad) used without augmentation, e.g. for validation."""
    win = _window(label.shape, crop_hw, None)
    return _padded(image[win[0], win[1]].astype(np.float32) / 255.0, label, crop_hw, win)


def normalise(image: np.ndarray) -> np.ndarray:
    """[0, 1] float RGB [H, W, 3] -> ImageNet-normalised float32 [3, H, W]."""
    out = (image - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32)
