"""Is the synthetic street dataset a fair proxy? A colour lookup must lose to a network.

Trains two models with the same budget (iterations, batch, optimizer, learning rate, data order):
  * `pixel`: a per-pixel colour classifier (1x1 convolutions only: it sees one pixel),
  * `cnn`:   a small convolutional encoder-decoder (it sees context),
on the generated Cityscapes-format data, then scores both on the val split (mIoU over the 19
trainIds). If the generator were a colouring book the pixel model would match the CNN; the gap
is the part of the task that needs shape and context. Figures on a busy shared CPU are
preliminary. Usage:

    .venv/bin/python experiments/bench_synth_proxy.py [--iters 300] [--batch 8]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nas.data import build_dataset  # noqa: E402
from nas.data.synth_cache import cache_path, ensure_synth  # noqa: E402
from nas.io import atomic_write_json  # noqa: E402
from nas.train.metrics import ConfusionMatrix  # noqa: E402

NUM_CLASSES = 19


def pixel_model(width: int = 64) -> nn.Module:
    """Colour -> class, pixel by pixel: every layer is a 1x1 convolution."""
    return nn.Sequential(
        nn.Conv2d(3, width, 1),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
        nn.Conv2d(width, width, 1),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
        nn.Conv2d(width, NUM_CLASSES, 1),
    )


def _cbr(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """A tiny encoder-decoder: stride-8 context trunk with dilations plus a stride-2 detail skip."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = _cbr(3, 24, 2)
        self.down = nn.Sequential(
            _cbr(24, 48, 2), _cbr(48, 64, 2), _cbr(64, 64, dilation=2), _cbr(64, 64, dilation=4)
        )
        self.fuse = _cbr(24 + 64, 48)
        self.classifier = nn.Conv2d(48, NUM_CLASSES, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        detail = self.stem(x)
        context = F.interpolate(
            self.down(detail), size=detail.shape[-2:], mode="bilinear", align_corners=False
        )
        out = self.classifier(self.fuse(torch.cat([detail, context], 1)))
        return F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)


def _stack(ds) -> tuple[torch.Tensor, torch.Tensor]:
    items = [ds[i] for i in range(len(ds))]
    return torch.stack([x for x, _ in items]), torch.stack([y for _, y in items])


def _crops(
    x: torch.Tensor, y: torch.Tensor, crop: tuple[int, int], gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """One random crop per sample (cheap training steps; eval is on whole images)."""
    ch, cw = crop
    h, w = y.shape[-2:]
    oy = torch.randint(h - ch + 1, (len(x),), generator=gen).tolist()
    ox = torch.randint(w - cw + 1, (len(x),), generator=gen).tolist()
    xs = [x[i, :, a : a + ch, b : b + cw] for i, (a, b) in enumerate(zip(oy, ox, strict=True))]
    ys = [y[i, a : a + ch, b : b + cw] for i, (a, b) in enumerate(zip(oy, ox, strict=True))]
    return torch.stack(xs), torch.stack(ys)


def train_and_eval(name: str, model: nn.Module, train, val, args) -> dict:
    torch.manual_seed(args.seed)
    order = torch.Generator().manual_seed(args.seed)  # identical batches for both models
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: (1 - it / args.iters) ** 0.9)
    x_train, y_train = train
    model.train()
    start = time.perf_counter()
    for it in range(args.iters):
        idx = torch.randint(len(x_train), (args.batch,), generator=order)
        xb, yb = _crops(x_train[idx], y_train[idx], args.crop, order)
        loss = F.cross_entropy(model(xb), yb, ignore_index=255)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (it + 1) % 50 == 0 or it + 1 == args.iters:
            print(
                f"  {name}: iter {it + 1}/{args.iters} loss {loss.item():.3f} "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    train_s = time.perf_counter() - start
    model.eval()
    cm = ConfusionMatrix(NUM_CLASSES, ignore_index=255)
    x_val, y_val = val
    with torch.no_grad():
        for i in range(0, len(x_val), 16):
            cm.update(model(x_val[i : i + 16]), y_val[i : i + 16])
    return {
        "model": name,
        "params": sum(p.numel() for p in model.parameters()),
        "miou": cm.miou(),
        "pixel_acc": cm.pixel_acc(),
        "iou": cm.iou(),
        "final_loss": float(loss.detach()),
        "train_s": train_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="128x256", help="generated image size HxW")
    parser.add_argument("--n-train", type=int, default=160)
    parser.add_argument("--n-val", type=int, default=40)
    parser.add_argument("--crop", default="64x128", help="training crop HxW")
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "experiments/results/bench_synth_proxy.json"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    size = tuple(int(v) for v in args.size.split("x"))
    args.crop = tuple(min(int(v), s) for v, s in zip(args.crop.split("x"), size, strict=True))
    root = ensure_synth(
        size,
        args.n_train,
        args.n_val,
        seed=args.seed,
        root=cache_path(size, args.n_train, args.seed),
    )
    print(f"data: {root}")
    train = _stack(build_dataset(str(root), "train"))
    val = _stack(build_dataset(str(root), "val"))
    results = [
        train_and_eval("pixel (1x1 convs)", pixel_model(), train, val, args),
        train_and_eval("cnn (3x3, context)", SmallCNN(), train, val, args),
    ]
    from nas.data.cityscapes import TRAIN_CLASSES

    print(f"\n{'model':<20} {'params':>8} {'mIoU %':>7} {'pixAcc %':>9} {'train s':>8}")
    for r in results:
        print(
            f"{r['model']:<20} {r['params']:>8} {100 * r['miou']:>7.1f} "
            f"{100 * r['pixel_acc']:>9.1f} {r['train_s']:>8.1f}"
        )
    print(f"\n{'class':<15}" + "".join(f"{r['model'].split()[0]:>8}" for r in results))
    for k, name in enumerate(TRAIN_CLASSES):
        print(f"{name:<15}" + "".join(f"{100 * r['iou'][k]:>8.1f}" for r in results))
    payload = {
        "note": "preliminary: CPU timings on a shared machine; mIoU over the 19 trainIds",
        "data": str(root),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "torch": torch.__version__,
        "host": platform.platform(),
        "classes": list(TRAIN_CLASSES),
        "results": [{**r, "iou": [None if np.isnan(v) else v for v in r["iou"]]} for r in results],
        "miou_gap": results[1]["miou"] - results[0]["miou"],
    }
    atomic_write_json(args.out, payload)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
