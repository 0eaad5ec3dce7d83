"""The street itself: geometry, sky, skyline, ground and facades, and the ego vehicle.

Drawn whole-image with boolean masks before any object, in back-to-front order. Ground points
are mapped with the flat-street pinhole model of `Camera`: a pixel below the horizon at row y,
column x lies at depth f / (y - hz) and lateral offset (x - vx) / (y - hz) camera heights, so
road edges, lane markings, kerbs and facade bases are straight lines through the vanishing point.
"""

from __future__ import annotations

import numpy as np

from nas.data._scene_objects import Ctx

# Cityscapes labelIds of the background.
EGO, GROUND, ROAD, SIDEWALK, PARKING = 1, 6, 7, 8, 9
BUILDING, WALL, FENCE, VEGETATION, TERRAIN, SKY = 11, 12, 13, 21, 22, 23


def sky(ctx: Ctx, coarse: np.ndarray) -> None:
    h, w, rng = ctx.canvas.h, ctx.canvas.w, ctx.rng
    overcast = rng.random() < 0.35
    top = ctx.vary((165, 170, 178) if overcast else (70, 120, 195), 0.1)
    low = ctx.vary((200, 203, 206) if overcast else (170, 200, 230), 0.08)
    t = np.clip(np.arange(h, dtype=np.float32) / max(ctx.cam.hz, 1.0), 0, 1)[:, None, None]
    col = top * (1 - t) + low * t
    cloud = np.clip(coarse * rng.uniform(0.6, 1.4) + rng.uniform(-0.4, 0.2), 0, 1)[..., None]
    col = col * (1 - cloud) + ctx.vary((232, 232, 236), 0.05) * cloud
    ctx.sky = (top + low) / 2
    ctx.canvas.paint_full(np.ones((h, w), bool), SKY, np.broadcast_to(col, (h, w, 3)), 0.02)


def skyline(ctx: Ctx, yy: np.ndarray) -> None:
    """Distant buildings and trees near the horizon, hazy (mixed with the sky colour)."""
    w, rng, hz = ctx.canvas.w, ctx.rng, ctx.cam.hz
    edges = np.cumsum(rng.integers(3, 30, size=w))
    edges = edges[edges < w]
    seg = np.searchsorted(edges, np.arange(w), side="right")
    n = seg.max() + 1
    tops = hz - rng.uniform(0.0, 0.12, n)[seg] * ctx.canvas.h
    kind = np.where(rng.random(n) < 0.65, BUILDING, VEGETATION)[seg]
    base = np.where((kind == BUILDING)[:, None], ctx.vary((120, 118, 115), 0.2), (85, 105, 70))
    col = base * 0.6 + ctx.sky * 0.4
    mask = (yy >= tops[None, :]) & (yy <= hz + 1)
    for label in (BUILDING, VEGETATION):
        m = mask & (kind == label)[None, :]
        ctx.canvas.paint_full(m, label, np.broadcast_to(col[None], (*m.shape, 3)), 0.1)


def ground(ctx: Ctx, yy: np.ndarray, xx: np.ndarray, street: dict) -> np.ndarray:
    """Road, markings, curbs, sidewalks and verges; returns the lateral coordinate map."""
    c, rng, cam = ctx.canvas, ctx.rng, ctx.cam
    below = yy > cam.hz + 0.5
    dy = np.maximum(yy - cam.hz, 0.5)
    lat = (xx - cam.vx) / dy  # ground-plane lateral offset in camera heights (flat street)
    depth = cam.f / dy
    left, right, walk_l, walk_r = (
        street["left"],
        street["right"],
        street["walk_l"],
        street["walk_r"],
    )
    road = below & (lat >= -left) & (lat <= right)
    asphalt = ctx.vary((95, 95, 100) if rng.random() < 0.7 else (125, 118, 112), 0.15)
    c.paint_full(road, ROAD, asphalt, 0.12)
    # Lane markings: dashed lines at a fixed lateral offset, dashes periodic in depth.
    for mark in street["lanes"]:
        dash = np.mod(depth / street["dash"], 1.0) < 0.45
        line = road & (np.abs(lat - mark) < 0.06) & dash
        c.paint_full(line, ROAD, ctx.vary((225, 225, 215), 0.05), 0.05)
    paving = ctx.vary((150, 145, 140) if rng.random() < 0.6 else (165, 120, 110), 0.12)
    tiles = (np.mod(lat * 2.0, 1.0) < 0.06) | (np.mod(depth * 1.5, 1.0) < 0.06)
    for sign, edge, width in ((-1, left, walk_l), (1, right, walk_r)):
        side_lat = lat * sign
        walk = below & (side_lat > edge) & (side_lat <= edge + width)
        c.paint_full(walk, SIDEWALK, paving, 0.1)
        c.paint_full(walk & tiles, SIDEWALK, paving * 0.8, 0.1)
        c.paint_full(walk & (side_lat < edge + 0.12), SIDEWALK, ctx.vary((185, 185, 180)), 0.05)
        verge = below & (side_lat > edge + width)
        verge_label = TERRAIN if rng.random() < 0.6 else [GROUND, PARKING][rng.integers(2)]
        verge_col = ctx.vary((105, 125, 60), 0.2) if verge_label == TERRAIN else paving * 0.9
        c.paint_full(verge, verge_label, verge_col, 0.3 if verge_label == TERRAIN else 0.1)
    return lat


def facades(ctx: Ctx, yy: np.ndarray, xx: np.ndarray, street: dict) -> None:
    """Buildings, walls, hedges and fences standing along a line on each side of the street."""
    c, rng, cam = ctx.canvas, ctx.rng, ctx.cam
    for sign, line in (
        (-1, street["left"] + street["walk_l"] + street["verge_l"]),
        (1, street["right"] + street["walk_r"] + street["verge_r"]),
    ):
        u = (xx[0] - cam.vx) * sign  # columns on this side have u > 0
        cols = u > 0.5
        z_col = np.where(cols, cam.f * line / np.maximum(u, 0.5), np.inf)  # depth of the facade
        bounds = np.cumsum(rng.uniform(4.0, 16.0, 14)) + rng.uniform(-6.0, 1.0)
        n = len(bounds) + 1
        kinds = rng.choice(
            [BUILDING, WALL, VEGETATION, FENCE, 0], size=n, p=[0.58, 0.1, 0.16, 0.06, 0.1]
        )
        heights = np.select(
            [kinds == BUILDING, kinds == WALL, kinds == VEGETATION, kinds == FENCE],
            [
                rng.uniform(2.0, 14.0, n),
                rng.uniform(0.6, 1.6, n),
                rng.uniform(1.5, 5.0, n),
                rng.uniform(0.6, 1.1, n),
            ],
        )
        seg = np.searchsorted(bounds, z_col)
        seg = np.where(cols & (z_col < 120), seg, n)  # n = nothing painted
        kinds, heights = np.append(kinds, 0), np.append(heights, 0.0)
        ragged = 1 + 0.3 * ctx.noise[0] * (kinds[seg] == VEGETATION)
        z_col = np.minimum(z_col, 1e6)  # finite, so the window/slat patterns stay NaN-free
        scale = cam.f / z_col
        base = cam.hz + scale
        top = cam.hz + scale * (1 - heights[seg] * ragged)
        inside = (yy >= top[None, :]) & (yy < base[None, :])
        height_above = (base[None, :] - yy) / np.maximum(scale[None, :], 1e-6)
        palette = np.array(
            [
                (150, 140, 130),
                (190, 180, 160),
                (120, 75, 60),
                (215, 210, 200),
                (105, 105, 110),
                (170, 160, 120),
            ],
            np.float32,
        )
        seg_col = np.stack(
            [ctx.vary(palette[rng.integers(len(palette))], 0.15) for _ in range(n + 1)]
        )
        col = np.broadcast_to(seg_col[seg][None], (*yy.shape[:1], xx.shape[1], 3))
        for kind, tex in ((BUILDING, 0.1), (WALL, 0.12), (FENCE, 0.1)):
            c.paint_full(inside & (kinds[seg] == kind)[None, :], kind, col, tex)
        hedge = inside & (kinds[seg] == VEGETATION)[None, :]
        c.paint_full(hedge, VEGETATION, ctx.vary((60, 95, 40), 0.25), 0.45)
        # Windows in facade coordinates (depth along the street, height above ground), so they
        # shrink with distance like real ones; glass mirrors the sky.
        floor = rng.uniform(0.9, 1.3)
        win = (
            inside
            & (kinds[seg] == BUILDING)[None, :]
            & (height_above > 0.8)
            & (np.mod(height_above / floor, 1.0) > 0.35)
            & (np.mod(height_above / floor, 1.0) < 0.8)
            & (np.mod(z_col / rng.uniform(0.9, 1.8), 1.0) > 0.4)[None, :]
        )
        c.paint_full(win, BUILDING, ctx.glass(), 0.05)
        slats = inside & (kinds[seg] == FENCE)[None, :] & (np.mod(z_col * 3.0, 1.0) < 0.5)[None, :]
        c.paint_full(slats, FENCE, ctx.vary((90, 80, 70)), 0.1)


def ego_vehicle(ctx: Ctx, yy: np.ndarray, xx: np.ndarray) -> None:
    """The camera car's bonnet at the bottom edge (labelId 1, ignored in training)."""
    h, w = ctx.canvas.h, ctx.canvas.w
    depth = ctx.rng.uniform(0.05, 0.12) * h
    edge = h - depth * (1 - 0.6 * ((xx - w / 2) / (w / 2)) ** 2)
    hood = yy >= edge
    shade = ctx.vary((50, 52, 58), 0.3) * (0.8 + 0.4 * ((yy - (h - depth)) / depth))[..., None]
    ctx.canvas.paint_full(hood, EGO, np.broadcast_to(shade, (h, w, 3)), 0.03)


def street_layout(rng: np.random.Generator) -> dict:
    """Random street geometry in camera heights: road half-widths, sidewalks, verges, lanes."""
    left, right = rng.uniform(1.5, 5.0), rng.uniform(1.5, 5.0)
    n_lanes = rng.integers(0, 4)
    return {
        "left": left,
        "right": right,
        "walk_l": rng.uniform(1.5, 4.5),
        "walk_r": rng.uniform(1.5, 4.5),
        "verge_l": rng.uniform(0.0, 3.0) * (rng.random() < 0.4),
        "verge_r": rng.uniform(0.0, 3.0) * (rng.random() < 0.4),
        "lanes": list(np.linspace(-left, right, n_lanes + 2)[1:-1]),
        "dash": rng.uniform(3.0, 8.0),
    }
