"""Procedural street scenes in the Cityscapes layout: the embedded default dataset.

`render_scene` draws one scene through a pinhole camera over a flat street: a perspective road
with lane markings between sidewalks, facades (buildings with perspective-correct windows,
walls, hedges, fences) along both sides, a hazy skyline, sky with clouds, then poles, signs,
traffic lights, trees, vehicles and people of many sizes painted far to near (occlusion).
Textures, shadows, global lighting, white balance, vignetting and sensor noise come last.
Colours deliberately overlap between classes, so a per-pixel colour classifier is a weak proxy
and a network has to use context: `experiments/bench_synth_proxy.py` measures that gap.

`generate` writes `leftImg8bit/<split>/synth/*_leftImg8bit.png` and the matching
`gtFine/<split>/synth/*_gtFine_labelIds.png` with official labelIds. Image i of a split is a
pure function of (seed, split, i).
"""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from nas.data import _scene_objects as obj
from nas.data import _scene_street as street_bg
from nas.data._raster import Canvas, smooth_noise
from nas.data._scene_objects import Camera, Ctx
from nas.data.cityscapes import IMAGE_DIR, IMAGE_SUFFIX, LABEL_DIR, LABEL_SUFFIX

CITY = "synth"


def _objects(ctx: Ctx, street: dict, h: int) -> None:
    """Sample the street furniture, vehicles and people; paint them far to near."""
    rng, cam = ctx.rng, ctx.cam
    z_min = cam.f / max(h - cam.hz, 1.0) * 1.05  # the nearest depth still on screen
    left, right = street["left"], street["right"]

    def depth(near: float = 1.0) -> float:
        # Uniform in inverse depth = uniform in screen rows: many small, some large objects.
        return 1.0 / rng.uniform(1.0 / 70.0, 1.0 / max(z_min * near, 1.5))

    plan: list[tuple[float, Callable[[], None]]] = []
    for _ in range(rng.integers(2, 12)):
        side = rng.random() < 0.3  # parked along the kerb, seen from the side
        lat = (
            rng.choice([-left + 1.2, right - 1.2])
            if side
            else rng.uniform(-left + 0.7, right - 0.7)
        )
        z = depth(1.6)
        plan.append((z, lambda la=lat, z=z, s=side: obj.car(ctx, la, z, s)))
    for _ in range(rng.binomial(2, 0.25)):
        z, lat, side = depth(3.0), rng.uniform(-left + 1, right - 1), rng.random() < 0.4
        plan.append((z, lambda la=lat, z=z, s=side: obj.truck(ctx, la, z, s)))
    if rng.random() < 0.25:
        z, lat, side = depth(3.0), rng.uniform(-left + 1, right - 1), rng.random() < 0.4
        plan.append((z, lambda la=lat, z=z, s=side: obj.bus(ctx, la, z, s)))
    if rng.random() < 0.12:
        z, lat = depth(3.0), rng.uniform(-left + 1.5, right - 1.5)
        plan.append((z, lambda la=lat, z=z: obj.bus(ctx, la, z, True, label=obj.TRAIN)))
    for _ in range(rng.integers(0, 4)):
        z, motor = depth(), rng.random() < 0.4
        on_road = rng.random() < 0.6
        lat = (
            rng.uniform(-left + 0.4, right - 0.4)
            if on_road
            else rng.choice([-1, 1]) * (rng.choice([left, right]) + rng.uniform(0.3, 1.0))
        )
        ridden = on_road or rng.random() < 0.3
        plan.append((z, lambda la=lat, z=z, m=motor, r=ridden: obj.two_wheeler(ctx, la, z, m, r)))
    for _ in range(rng.integers(0, 16)):
        sign = rng.choice([-1, 1])
        walk = street["walk_l"] if sign < 0 else street["walk_r"]
        edge = left if sign < 0 else right
        crossing = rng.random() < 0.12
        lat = (
            rng.uniform(-left, right)
            if crossing
            else sign * (edge + rng.uniform(0.3, max(walk - 0.2, 0.4)))
        )
        z = depth()
        plan.append((z, lambda la=lat, z=z: obj.person(ctx, la, z)))
    for sign, edge in ((-1, left), (1, right)):
        z = rng.uniform(2.0, 8.0)
        while z < 70:
            kind = rng.choice(["sign", "light", "lamp", "bare"], p=[0.35, 0.2, 0.25, 0.2])
            lat = sign * (edge + rng.uniform(0.25, 0.6))
            plan.append((z, lambda la=lat, z=z, k=kind: obj.pole(ctx, la, z, k)))
            z += rng.uniform(4.0, 20.0)
        if rng.random() < 0.6:
            z = rng.uniform(3.0, 12.0)
            walk = street["walk_l"] if sign < 0 else street["walk_r"]
            while z < 70:
                lat = sign * (edge + walk * rng.uniform(0.6, 1.0))
                plan.append((z, lambda la=lat, z=z: obj.tree(ctx, la, z)))
                z += rng.uniform(5.0, 15.0)
    for _z, paint in sorted(plan, key=lambda p: -p[0]):
        paint()


def _finish(ctx: Ctx, lat: np.ndarray, fine: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """Texture, shadows, lighting, white balance, vignetting and sensor noise -> uint8 RGB."""
    c, rng, cam = ctx.canvas, ctx.rng, ctx.cam
    h, w = c.h, c.w
    grain = 0.6 * fine + 0.4 * ctx.noise
    img = c.color * (1 + c.texture * grain)[..., None]
    light = np.ones((h, w), np.float32)
    ground = np.arange(h)[:, None] > cam.hz
    if rng.random() < 0.6:  # a facade's shadow along the street
        cut = rng.uniform(-3, 3)
        light = np.where(ground & ((lat < cut) if rng.random() < 0.5 else (lat > cut)), 0.55, light)
    if rng.random() < 0.3:  # dappled tree shadows
        light = np.where(ground & (coarse > 0.3), light * 0.7, light)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((yy - h / 2) / h) ** 2 + ((xx - w / 2) / w) ** 2
    light = light * (1 - rng.uniform(0.0, 0.8) * r2) * rng.uniform(0.6, 1.25)
    img = img * light[..., None] * rng.uniform(0.9, 1.1, 3).astype(np.float32)
    img += rng.standard_normal((h, w, 3), dtype=np.float32) * rng.uniform(1.0, 7.0)
    return np.clip(img, 0, 255).astype(np.uint8)


def render_scene(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """One street scene: RGB uint8 [h, w, 3] and Cityscapes labelIds uint8 [h, w]."""
    cam = Camera(
        hz=h * rng.uniform(0.3, 0.48), vx=w * rng.uniform(0.3, 0.7), f=w * rng.uniform(0.45, 0.75)
    )
    canvas = Canvas(h, w)
    coarse = smooth_noise(rng, h, w, max(h, w) / 6)
    mid = smooth_noise(rng, h, w, 6.0)
    fine = smooth_noise(rng, h, w, 1.5)
    ctx = Ctx(canvas, cam, rng, np.zeros(3, np.float32), mid)
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    street = street_bg.street_layout(rng)
    street_bg.sky(ctx, coarse)
    street_bg.skyline(ctx, yy)
    lat = street_bg.ground(ctx, yy, xx, street)
    street_bg.facades(ctx, yy, xx, street)
    _objects(ctx, street, h)
    if rng.random() < 0.5:
        street_bg.ego_vehicle(ctx, yy, xx)
    return _finish(ctx, lat, fine, coarse), canvas.label


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of image `index` of `split`: independent of every other image."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(split.encode()), index]))


def stem(index: int) -> str:
    return f"{CITY}_000000_{index:06d}"


def _write_png(path: Path, array: np.ndarray) -> None:
    """Write via a temp name + rename so an interrupted run never leaves a truncated PNG."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=1)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)


def generate(
    out_dir: str | Path,
    n: int,
    size_hw: tuple[int, int],
    seed: int,
    split: str,
    progress: bool = False,
) -> Path:
    """Write `n` scenes of `size_hw` into `out_dir` in the Cityscapes layout; returns out_dir."""
    out = Path(out_dir)
    img_dir = out / IMAGE_DIR / split / CITY
    lbl_dir = out / LABEL_DIR / split / CITY
    img_dir.mkdir(parents=True, exist_ok=True)
    lbl_dir.mkdir(parents=True, exist_ok=True)
    indices = range(n)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc=f"synth {split}", unit="img")
    h, w = size_hw
    for i in indices:
        image, label_ids = render_scene(image_rng(seed, split, i), h, w)
        _write_png(img_dir / f"{stem(i)}{IMAGE_SUFFIX}", image)
        _write_png(lbl_dir / f"{stem(i)}{LABEL_SUFFIX}", label_ids)
    return out
