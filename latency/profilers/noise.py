"""The noise floor: how well a device's measurements reproduce themselves.

A predictor cannot be judged more accurate than the measurements it is scored against, so the
evaluation reports this next to every accuracy figure: measure the same blocks in two (or more)
independent passes and take the relative pass-to-pass difference per block, for the median and
for the p90.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from latency.profilers.base import Measurable, Profiler


@dataclass(frozen=True)
class NoiseFloor:
    """Pass-to-pass error of repeated measurements of the same items.

    Args:
        median_err: median over items of |a - b| / mean(a, b) of the median latency (the figure
            to put next to a predictor's error).
        median_err_p90: 90th percentile over items of that error (the bad tail).
        p90_err: median over items of the same error of the p90 latency.
        items, passes: how many items, measured how many times.
        blocks_per_min: throughput of one pass, for planning a campaign.
        calibrated_median_err: `median_err` of the calibration-scaled median (diagnostic;
            NaN when the backend has no calibration block).
    """

    median_err: float
    median_err_p90: float
    p90_err: float
    items: int
    passes: int
    blocks_per_min: float
    calibrated_median_err: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return (f"noise floor over {self.items} items x {self.passes} passes: median "
                f"{100 * self.median_err:.1f}% (p90 of items {100 * self.median_err_p90:.1f}%), "
                f"p90 {100 * self.p90_err:.1f}%, {self.blocks_per_min:.0f} items/min; "
                f"calibrated median {100 * self.calibrated_median_err:.1f}%")


def _pairwise_rel(values: np.ndarray) -> np.ndarray:
    """Per item, mean over pass pairs of |a - b| / ((a + b) / 2)."""
    errs = []
    for i in range(values.shape[0]):
        for j in range(i + 1, values.shape[0]):
            a, b = values[i], values[j]
            errs.append(np.abs(a - b) / np.maximum((a + b) / 2, 1e-12))
    return np.mean(errs, axis=0)


def noise_floor(profiler: Profiler, items: Sequence[Measurable], passes: int = 2,
                batch: int = 16, detail: dict[str, Any] | None = None) -> NoiseFloor:
    """Measure `items` `passes` times (each pass complete before the next) and compare.

    `detail`, when given, receives the per-pass, per-item medians, p90s and diagnostics, to
    look into where a bad figure comes from.
    """
    if passes < 2 or not items:
        raise ValueError("noise_floor needs at least 2 passes over at least 1 item")
    medians = np.zeros((passes, len(items)))
    p90s = np.zeros((passes, len(items)))
    calibrated = np.full((passes, len(items)), np.nan)
    diag: list[dict[str, Any]] = []
    start = time.monotonic()
    for p in range(passes):
        for s in range(0, len(items), batch):
            chunk = list(items[s:s + batch])
            for k, m in enumerate(profiler.measure_many(chunk)):
                medians[p, s + k] = m.median_ms
                p90s[p, s + k] = m.p90_ms
                calibrated[p, s + k] = m.extra.get("median_ms_calibrated", np.nan)
                if k == 0:
                    diag.append({"pass": p, "first_item": s, **{
                        key: m.extra.get(key) for key in ("core", "redone_rounds",
                                                          "others_busy_mean", "quiet_wait_s")}})
    minutes = (time.monotonic() - start) / 60
    if detail is not None:
        detail.update(median_ms=medians.round(6).tolist(), p90_ms=p90s.round(6).tolist(),
                      diagnostics=diag)
    med_err = _pairwise_rel(medians)
    return NoiseFloor(
        median_err=float(np.median(med_err)),
        median_err_p90=float(np.percentile(med_err, 90)),
        p90_err=float(np.median(_pairwise_rel(p90s))),
        items=len(items),
        passes=passes,
        blocks_per_min=len(items) * passes / max(minutes, 1e-9),
        calibrated_median_err=float(np.median(_pairwise_rel(calibrated))),
    )


def _default_blocks(n: int, seed: int, hw: tuple[int, int]) -> list[Any]:
    """A spread of shared `conv` blocks (1x1/3x3, dense/depthwise, 4..256 channels, strides)
    for when no space is named: the noise floor of the device, not of one space."""
    import random

    from latency.ops import conv_spec

    rng = random.Random(seed)
    out: dict[tuple, Any] = {}
    while len(out) < n:
        c_in, c_out = (rng.choice([4, 8, 16, 32, 64, 128, 256]) for _ in range(2))
        scale = rng.choice([4, 8, 16, 32])
        k, stride = rng.choice([1, 3]), rng.choice([1, 2])
        groups = c_in if k == 3 and rng.random() < 0.3 else 1
        spec = conv_spec(c_in, c_in if groups > 1 else c_out, max(2, hw[0] // scale),
                         max(2, hw[1] // scale), k=k, stride=stride, groups=groups)
        out[spec.key()] = spec
    return list(out.values())


def main(argv: list[str] | None = None) -> int:
    """`python -m latency.profilers.noise --device cpu --n 64`: print and save a noise floor."""
    import argparse
    import sys

    from latency.devices import get_device, parse_input_size
    from latency.profilers.base import get_profiler

    ap = argparse.ArgumentParser(prog="python -m latency.profilers.noise",
                                 description=noise_floor.__doc__)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--devices", action="append", default=[], metavar="FILE")
    ap.add_argument("--space", action="append", default=[],
                    help="sample blocks of these spaces (default: a spread of conv blocks)")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--input-size", metavar="HxW")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--runs", type=int)
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--out", help="write the result as JSON here")
    args = ap.parse_args(argv)
    device = get_device(args.device, args.devices)
    hw = parse_input_size(args.input_size) if args.input_size else device.input_size
    if args.space:
        from latency.sampler import sample_blocks

        blocks = sample_blocks(args.space, args.n, args.seed, hw)
    else:
        blocks = _default_blocks(args.n, args.seed, hw)
    overrides = {k: getattr(args, k) for k in ("rounds", "runs", "warmup")
                 if getattr(args, k) is not None}
    prof = get_profiler(device, **overrides)
    detail: dict[str, Any] = {}
    nf = noise_floor(prof, blocks, passes=args.passes, batch=args.batch, detail=detail)
    print(f"{device.name}: {nf}")
    if args.out:
        from nas.io import atomic_write_json

        atomic_write_json(args.out, {"device": device.to_dict(), "rounds": prof.rounds,
                                     "runs": prof.runs, "batch": args.batch, **nf.to_dict(),
                                     "blocks": [b.to_dict() for b in blocks], **detail})
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
