"""Drawing primitives for the procedural street scenes: a label+colour canvas, noise, shapes.

Everything is numpy-vectorised over pixel boxes: a shape is a boolean mask computed from the
box's local unit coordinates (u across, v down, both in [0, 1]), so an object is drawn in time
proportional to its size on screen and the renderer stays far below 0.2 s per 256x512 image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Value noise in [-1, 1]: a random grid of spacing `cell` pixels, bilinearly interpolated."""
    gh, gw = int(h / cell) + 2, int(w / cell) + 2
    grid = rng.uniform(-1.0, 1.0, size=(gh, gw)).astype(np.float32)
    ys = np.arange(h, dtype=np.float32) / cell
    xs = np.arange(w, dtype=np.float32) / cell
    y0, x0 = ys.astype(np.int64), xs.astype(np.int64)
    ty, tx = (ys - y0)[:, None], (xs - x0)[None, :]
    rows = grid[y0] * (1 - ty) + grid[y0 + 1] * ty  # [h, gw]
    return rows[:, x0] * (1 - tx) + rows[:, x0 + 1] * tx


@dataclass
class Box:
    """An integer pixel box with the local unit coordinates of its pixel centres."""

    ys: slice
    xs: slice
    u: np.ndarray  # [1, bw] in [0, 1] across the object's float box
    v: np.ndarray  # [bh, 1] in [0, 1] down the object's float box
    px_w: float  # the float box size in pixels, to keep thin parts at least a pixel wide
    px_h: float


@dataclass
class Canvas:
    """The image being drawn: label ids, base colours and a per-pixel texture strength.

    Texture is applied once at the end (`finish`), so painting stays a couple of masked writes.
    """

    h: int
    w: int
    label: np.ndarray = field(init=False)
    color: np.ndarray = field(init=False)
    texture: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.label = np.zeros((self.h, self.w), dtype=np.uint8)
        self.color = np.zeros((self.h, self.w, 3), dtype=np.float32)
        self.texture = np.zeros((self.h, self.w), dtype=np.float32)

    def box(self, y0: float, y1: float, x0: float, x1: float) -> Box | None:
        """The pixels of the float box [y0, y1) x [x0, x1), at least 1x1; None if off-screen."""
        iy0, ix0 = int(round(y0)), int(round(x0))
        iy1, ix1 = max(int(round(y1)), iy0 + 1), max(int(round(x1)), ix0 + 1)
        cy0, cy1 = max(iy0, 0), min(iy1, self.h)
        cx0, cx1 = max(ix0, 0), min(ix1, self.w)
        if cy0 >= cy1 or cx0 >= cx1:
            return None
        bh, bw = max(y1 - y0, 1e-3), max(x1 - x0, 1e-3)
        u = ((np.arange(cx0, cx1, dtype=np.float32) + 0.5 - x0) / bw)[None, :]
        v = ((np.arange(cy0, cy1, dtype=np.float32) + 0.5 - y0) / bh)[:, None]
        if ix1 - ix0 == 1:  # thinner than a pixel: let the whole pixel count as inside
            u = np.full_like(u, 0.5)
        if iy1 - iy0 == 1:
            v = np.full_like(v, 0.5)
        return Box(slice(cy0, cy1), slice(cx0, cx1), u, v, bw, bh)

    def paint(
        self,
        box: Box,
        mask: np.ndarray,
        label_id: int,
        color: np.ndarray | tuple[float, float, float],
        texture: float,
    ) -> None:
        """Write `label_id`, `color` (RGB 0..255, or a per-pixel [bh, bw, 3] array) and texture."""
        mask = np.broadcast_to(mask, (box.ys.stop - box.ys.start, box.xs.stop - box.xs.start))
        self.label[box.ys, box.xs][mask] = label_id
        col = np.asarray(color, dtype=np.float32)
        self.color[box.ys, box.xs][mask] = col[mask] if col.ndim == 3 else col
        self.texture[box.ys, box.xs][mask] = texture

    def paint_full(self, mask: np.ndarray, label_id: int, color, texture: float) -> None:
        """Paint with a whole-image mask (backgrounds: sky, ground, facades)."""
        self.label[mask] = label_id
        col = np.asarray(color, dtype=np.float32)
        self.color[mask] = col[mask] if col.ndim == 3 else col
        self.texture[mask] = texture


# Shapes in unit box coordinates -------------------------------------------------------------


def rect(b: Box, u0: float, u1: float, v0: float, v1: float) -> np.ndarray:
    """Axis-aligned rectangle; widened to one pixel so thin parts (poles, legs) never vanish."""
    du = max(0.0, 0.5 / b.px_w - (u1 - u0) / 2)
    dv = max(0.0, 0.5 / b.px_h - (v1 - v0) / 2)
    return (b.u >= u0 - du) & (b.u < u1 + du) & (b.v >= v0 - dv) & (b.v < v1 + dv)


def ellipse(b: Box, cu: float, cv: float, ru: float, rv: float) -> np.ndarray:
    ru, rv = max(ru, 0.5 / b.px_w), max(rv, 0.5 / b.px_h)
    return ((b.u - cu) / ru) ** 2 + ((b.v - cv) / rv) ** 2 <= 1.0


def ring(b: Box, cu: float, cv: float, ru: float, rv: float, thick: float) -> np.ndarray:
    """An ellipse outline `thick` (fraction of the radius, at least a pixel) wide: wheels."""
    d = np.sqrt(((b.u - cu) / max(ru, 1e-3)) ** 2 + ((b.v - cv) / max(rv, 1e-3)) ** 2)
    t = max(thick, 1.0 / max(ru * b.px_w, 1e-3))
    return (d <= 1.0) & (d >= 1.0 - t)


def segment(b: Box, u0: float, v0: float, u1: float, v1: float, width_px: float) -> np.ndarray:
    """A line segment between two unit points, `width_px` pixels thick (bicycle frames)."""
    x, y = b.u * b.px_w, b.v * b.px_h
    ax, ay, bx, by = u0 * b.px_w, v0 * b.px_h, u1 * b.px_w, v1 * b.px_h
    dx, dy = bx - ax, by - ay
    t = np.clip(((x - ax) * dx + (y - ay) * dy) / max(dx * dx + dy * dy, 1e-6), 0.0, 1.0)
    dist2 = (x - ax - t * dx) ** 2 + (y - ay - t * dy) ** 2
    return dist2 <= max(width_px, 1.0) ** 2 / 4


def trapezoid(
    b: Box, top: tuple[float, float], bottom: tuple[float, float], v0: float, v1: float
) -> np.ndarray:
    """Rows v0..v1, spanning u=top at v0 widening (or narrowing) linearly to u=bottom at v1."""
    t = np.clip((b.v - v0) / max(v1 - v0, 1e-6), 0.0, 1.0)
    left = top[0] + (bottom[0] - top[0]) * t
    right = top[1] + (bottom[1] - top[1]) * t
    return (b.v >= v0) & (b.v < v1) & (b.u >= left) & (b.u < right)
