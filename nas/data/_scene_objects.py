"""The things standing in a synthetic street: vehicles, people, poles, signs, lights, trees.

Each painter places an object on the ground plane at lateral offset `lat` and depth `z` (both in
camera heights, the camera looking down the street) through a pinhole camera, so its size on
screen follows its distance; objects are painted far to near, which gives occlusion for free.
Colours are drawn from palettes that overlap across classes (grey cars on grey road, glass that
mirrors the sky, clothes of any colour): the class is only recoverable from shape and context.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nas.data._raster import Canvas, ellipse, rect, ring, segment, trapezoid

# Cityscapes labelIds (see nas.data.cityscapes.LABEL_TABLE).
POLE, LIGHT, SIGN, VEGETATION = 17, 19, 20, 21
PERSON, RIDER, CAR, TRUCK, BUS, TRAIN, MOTORCYCLE, BICYCLE = 24, 25, 26, 27, 28, 31, 32, 33

VEHICLE_COLORS = np.array(
    [
        (200, 200, 205),
        (40, 40, 45),
        (235, 235, 232),
        (150, 22, 28),
        (32, 52, 120),
        (112, 112, 116),
        (70, 92, 62),
        (182, 160, 122),
        (120, 130, 140),
        (210, 180, 40),
    ],
    dtype=np.float32,
)
SKIN = np.array([(232, 192, 162), (190, 140, 110), (122, 84, 62)], dtype=np.float32)
TYRE = (24.0, 24.0, 26.0)


@dataclass(frozen=True)
class Camera:
    """Pinhole camera one unit above a flat ground; horizon row `hz`, vanishing column `vx`."""

    hz: float
    vx: float
    f: float

    def box(self, lat: float, z: float, width: float, height: float, elev: float = 0.0):
        """Screen box (y0, y1, x0, x1) of an upright rectangle standing at (lat, z)."""
        s = self.f / z
        return (
            self.hz + s * (1.0 - elev - height),
            self.hz + s * (1.0 - elev),
            self.vx + s * (lat - width / 2),
            self.vx + s * (lat + width / 2),
        )


@dataclass
class Ctx:
    """What painters share: the canvas, camera, random source and the scene's sky colour."""

    canvas: Canvas
    cam: Camera
    rng: np.random.Generator
    sky: np.ndarray
    noise: np.ndarray  # mid-frequency value noise over the whole image, for ragged outlines

    def vary(self, color, amount: float = 0.12) -> np.ndarray:
        """A colour with a per-channel random tint, so no class owns an exact colour."""
        c = np.asarray(color, dtype=np.float32)
        return np.clip(c * self.rng.uniform(1 - amount, 1 + amount, 3), 0, 255)

    def glass(self) -> np.ndarray:
        """Window glass: a dark tint of the sky it mirrors."""
        return self.vary(self.sky * self.rng.uniform(0.35, 0.8), 0.08)

    def place(self, lat: float, z: float, width: float, height: float, elev: float = 0.0):
        return self.canvas.box(*self.cam.box(lat, z, width, height, elev))


def car(ctx: Ctx, lat: float, z: float, side: bool) -> None:
    height = ctx.rng.uniform(0.85, 1.2)
    b = ctx.place(lat, z, 2.9 if side else 1.25, height)
    if b is None:
        return
    c, p = ctx.canvas, ctx.vary(VEHICLE_COLORS[ctx.rng.integers(len(VEHICLE_COLORS))])
    glass = ctx.glass()
    if side:
        c.paint(b, rect(b, 0.0, 1.0, 0.42, 0.86), CAR, p, 0.06)
        c.paint(b, trapezoid(b, (0.28, 0.7), (0.14, 0.88), 0.0, 0.43), CAR, p, 0.06)
        c.paint(b, trapezoid(b, (0.31, 0.67), (0.2, 0.83), 0.07, 0.39), CAR, glass, 0.04)
        for cu in (0.2, 0.8):
            c.paint(b, ellipse(b, cu, 0.84, 0.09, 0.16), CAR, TYRE, 0.05)
            c.paint(b, ellipse(b, cu, 0.84, 0.045, 0.08), CAR, (150, 150, 155), 0.05)
    else:
        c.paint(b, rect(b, 0.0, 1.0, 0.42, 0.88), CAR, p, 0.06)
        c.paint(b, trapezoid(b, (0.17, 0.83), (0.06, 0.94), 0.0, 0.43), CAR, p, 0.06)
        c.paint(b, trapezoid(b, (0.22, 0.78), (0.12, 0.88), 0.06, 0.4), CAR, glass, 0.04)
        c.paint(b, rect(b, 0.05, 0.25, 0.82, 1.0) | rect(b, 0.75, 0.95, 0.82, 1.0), CAR, TYRE, 0.05)
        c.paint(
            b,
            rect(b, 0.03, 0.18, 0.5, 0.6) | rect(b, 0.82, 0.97, 0.5, 0.6),
            CAR,
            ctx.vary((200, 30, 30)),
            0.05,
        )
        c.paint(b, rect(b, 0.4, 0.6, 0.64, 0.74), CAR, (225, 225, 220), 0.02)


def truck(ctx: Ctx, lat: float, z: float, side: bool) -> None:
    b = ctx.place(lat, z, 6.0 if side else 1.7, ctx.rng.uniform(2.0, 2.6))
    if b is None:
        return
    c, box_col = ctx.canvas, ctx.vary(VEHICLE_COLORS[ctx.rng.integers(len(VEHICLE_COLORS))])
    cab = ctx.vary(VEHICLE_COLORS[ctx.rng.integers(len(VEHICLE_COLORS))])
    if side:
        c.paint(b, rect(b, 0.26, 1.0, 0.0, 0.85), TRUCK, box_col, 0.08)
        c.paint(b, rect(b, 0.0, 0.24, 0.3, 0.85), TRUCK, cab, 0.06)
        c.paint(b, rect(b, 0.03, 0.2, 0.36, 0.55), TRUCK, ctx.glass(), 0.04)
        for cu in (0.12, 0.62, 0.8):
            c.paint(b, ellipse(b, cu, 0.9, 0.05, 0.1), TRUCK, TYRE, 0.05)
    else:
        c.paint(b, rect(b, 0.0, 1.0, 0.0, 0.86), TRUCK, box_col, 0.08)
        c.paint(
            b,
            rect(b, 0.0, 1.0, 0.86, 0.9) | rect(b, 0.48, 0.52, 0.05, 0.86),
            TRUCK,
            (60, 60, 62),
            0.05,
        )
        c.paint(
            b, rect(b, 0.05, 0.28, 0.88, 1.0) | rect(b, 0.72, 0.95, 0.88, 1.0), TRUCK, TYRE, 0.05
        )


def bus(ctx: Ctx, lat: float, z: float, side: bool, label: int = BUS) -> None:
    """A bus, or with `label=TRAIN` a tram: same body, longer and with a pantograph."""
    tram = label == TRAIN
    length = ctx.rng.uniform(14.0, 22.0) if tram else ctx.rng.uniform(7.0, 9.0)
    b = ctx.place(lat, z, length if side else 1.75, 2.3 if tram else 2.1)
    if b is None:
        return
    c = ctx.canvas
    body = ctx.vary(
        [(220, 190, 40), (230, 230, 225), (30, 80, 160), (180, 30, 30)][ctx.rng.integers(4)]
    )
    top = 0.12 if tram else 0.0
    c.paint(b, rect(b, 0.0, 1.0, top, 0.93), label, body, 0.06)
    glass = ctx.glass()
    if side:
        n = max(3, int(length / 1.3))
        panes = (np.mod(b.u * n, 1.0) > 0.12) & rect(b, 0.02, 0.98, top + 0.1, top + 0.42)
        c.paint(b, panes, label, glass, 0.04)
        if tram:
            c.paint(
                b,
                segment(b, 0.35, 0.12, 0.45, 0.0, 1.0) | rect(b, 0.3, 0.5, 0.0, 0.01),
                label,
                (50, 50, 50),
                0.0,
            )
        else:
            for cu in (0.15, 0.8):
                c.paint(b, ellipse(b, cu, 0.93, 0.035, 0.07), label, TYRE, 0.05)
    else:
        c.paint(b, rect(b, 0.08, 0.92, top + 0.08, top + 0.4), label, glass, 0.04)
        c.paint(
            b,
            rect(b, 0.05, 0.22, 0.7, 0.78) | rect(b, 0.78, 0.95, 0.7, 0.78),
            label,
            (230, 200, 120),
            0.02,
        )


def person(
    ctx: Ctx, lat: float, z: float, label: int = PERSON, elev: float = 0.0, seated: bool = False
) -> None:
    """A pedestrian (or, with `label=RIDER` and `seated`, the rider on a two-wheeler)."""
    height = ctx.rng.uniform(0.95, 1.25) if ctx.rng.random() > 0.12 else ctx.rng.uniform(0.6, 0.9)
    if seated:
        height *= 0.75
    b = ctx.place(lat, z, height * 0.33, height, elev)
    if b is None:
        return
    c, rng = ctx.canvas, ctx.rng
    shirt = ctx.vary(rng.uniform(15, 235, 3), 0.05)
    legs = ctx.vary(rng.uniform(15, 160, 3) if rng.random() < 0.7 else rng.uniform(15, 235, 3))
    stride = rng.uniform(-0.12, 0.12)
    c.paint(
        b, ellipse(b, 0.5, 0.075, 0.2, 0.07), label, ctx.vary(SKIN[rng.integers(len(SKIN))]), 0.05
    )
    c.paint(
        b,
        ellipse(b, 0.5, 0.055, 0.21, 0.05) & (b.v < 0.06),
        label,
        ctx.vary(rng.uniform(10, 120, 3)),
        0.1,
    )
    c.paint(
        b,
        trapezoid(b, (0.2, 0.8), (0.16, 0.84), 0.14, 0.56 if not seated else 0.7),
        label,
        shirt,
        0.12,
    )
    c.paint(
        b,
        segment(b, 0.16, 0.18, 0.1 - stride / 2, 0.52, b.px_w * 0.14)
        | segment(b, 0.84, 0.18, 0.9 + stride / 2, 0.52, b.px_w * 0.14),
        label,
        shirt,
        0.12,
    )
    if seated:
        c.paint(b, segment(b, 0.4, 0.68, 0.2, 0.98, b.px_w * 0.22), label, legs, 0.1)
    else:
        c.paint(
            b,
            segment(b, 0.38, 0.55, 0.38 - stride, 0.98, b.px_w * 0.22)
            | segment(b, 0.62, 0.55, 0.62 + stride, 0.98, b.px_w * 0.22),
            label,
            legs,
            0.1,
        )
    if rng.random() < 0.25:  # a bag, which belongs to the person in Cityscapes
        c.paint(b, rect(b, 0.78, 1.0, 0.4, 0.6), label, ctx.vary(rng.uniform(20, 200, 3)), 0.05)


def two_wheeler(ctx: Ctx, lat: float, z: float, motor: bool, ridden: bool) -> None:
    """A bicycle or motorcycle, side or rear view, optionally with its rider (label 25)."""
    label = MOTORCYCLE if motor else BICYCLE
    side = ctx.rng.random() < 0.7
    height = 0.75 if motor else 0.68
    width = (1.45 if motor else 1.15) if side else 0.35
    b = ctx.place(lat, z, width, height)
    if b is not None:
        c = ctx.canvas
        frame = ctx.vary(VEHICLE_COLORS[ctx.rng.integers(len(VEHICLE_COLORS))])
        if side:
            thick = 0.35 if motor else 0.12
            for cu in (0.2, 0.8):
                c.paint(b, ring(b, cu, 0.7, 0.19, 0.29, thick), label, TYRE, 0.05)
            lw = max(1.0, b.px_h * 0.05)
            tube = (
                segment(b, 0.2, 0.7, 0.45, 0.4, lw)
                | segment(b, 0.45, 0.4, 0.75, 0.35, lw)
                | segment(b, 0.75, 0.2, 0.8, 0.7, lw)
                | segment(b, 0.45, 0.4, 0.5, 0.7, lw)
            )
            c.paint(b, tube, label, frame, 0.05)
            if motor:
                c.paint(b, ellipse(b, 0.5, 0.45, 0.25, 0.15), label, frame, 0.06)
        else:
            c.paint(b, rect(b, 0.35, 0.65, 0.45, 1.0), label, TYRE, 0.05)
            c.paint(b, rect(b, 0.0, 1.0, 0.12, 0.18), label, frame, 0.05)
            if motor:
                c.paint(b, rect(b, 0.15, 0.85, 0.3, 0.7), label, frame, 0.06)
    if ridden:
        person(ctx, lat, z * 0.999, label=RIDER, elev=height * 0.45, seated=True)


def pole(ctx: Ctx, lat: float, z: float, kind: str) -> None:
    """A pole, carrying a traffic sign, a traffic light, a lamp or nothing (`kind`)."""
    rng = ctx.rng
    height = rng.uniform(2.4, 4.5) if kind != "sign" else rng.uniform(1.6, 2.4)
    b = ctx.place(lat, z, rng.uniform(0.05, 0.12), height)
    if b is None:
        return
    metal = ctx.vary((128, 128, 132) if rng.random() < 0.7 else (60, 70, 60))
    ctx.canvas.paint(b, rect(b, 0.0, 1.0, 0.0, 1.0), POLE, metal, 0.04)
    if kind == "sign":
        size = rng.uniform(0.35, 0.6)
        s = ctx.place(lat, z * 0.999, size, size, elev=height - size * 0.6)
        if s is None:
            return
        face = [(200, 30, 30), (30, 70, 170), (235, 235, 230), (235, 200, 30)][rng.integers(4)]
        shape = rng.integers(3)
        mask = (
            ellipse(s, 0.5, 0.5, 0.5, 0.5)
            if shape == 0
            else rect(s, 0, 1, 0, 1)
            if shape == 1
            else (np.abs(s.u - 0.5) + np.abs(s.v - 0.5) <= 0.5)
        )
        back = rng.random() < 0.25  # seen from behind: a grey plate, still a sign
        ctx.canvas.paint(s, mask, SIGN, ctx.vary(metal if back else face), 0.03)
        if not back:
            inner = ellipse(s, 0.5, 0.5, 0.32, 0.32) if shape == 0 else rect(s, 0.2, 0.8, 0.2, 0.8)
            ctx.canvas.paint(s, mask & inner, SIGN, ctx.vary((240, 240, 240)), 0.03)
    elif kind == "light":
        lw, lh = rng.uniform(0.2, 0.3), rng.uniform(0.55, 0.8)
        s = ctx.place(lat, z * 0.999, lw, lh, elev=height - lh)
        if s is None:
            return
        ctx.canvas.paint(s, rect(s, 0, 1, 0, 1), LIGHT, ctx.vary((35, 38, 35)), 0.04)
        lit = rng.integers(3)
        for k, lamp in enumerate([(230, 40, 30), (240, 170, 20), (40, 220, 90)]):
            on = lamp if k == lit else (60, 55, 50)
            ctx.canvas.paint(s, ellipse(s, 0.5, 0.2 + 0.3 * k, 0.3, 0.11), LIGHT, on, 0.02)
    elif kind == "lamp":  # a street lamp arm: still pole
        arm = ctx.place(lat + 0.5 * np.sign(-lat), z * 0.999, 1.0, 0.06, elev=height - 0.06)
        if arm is not None:
            ctx.canvas.paint(arm, rect(arm, 0, 1, 0, 1), POLE, metal, 0.04)


def tree(ctx: Ctx, lat: float, z: float) -> None:
    """A street tree: trunk and ragged crown, both vegetation in Cityscapes."""
    rng = ctx.rng
    height = rng.uniform(2.5, 6.0)
    trunk = ctx.place(lat, z, rng.uniform(0.12, 0.25), height * 0.55)
    if trunk is not None:
        ctx.canvas.paint(trunk, rect(trunk, 0, 1, 0, 1), VEGETATION, ctx.vary((85, 68, 50)), 0.2)
    crown_w = height * rng.uniform(0.45, 0.8)
    b = ctx.place(lat, z * 0.999, crown_w, height * 0.65, elev=height * 0.35)
    if b is None:
        return
    ragged = ctx.noise[b.ys, b.xs] * 0.45
    mask = ((b.u - 0.5) / 0.5) ** 2 + ((b.v - 0.5) / 0.5) ** 2 <= 1.0 + ragged
    green = ctx.vary((70, 105, 45), 0.25)
    ctx.canvas.paint(b, mask, VEGETATION, green, 0.45)
