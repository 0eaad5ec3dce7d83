"""Training throughput (images/s) of a registered model: forward + backward + SGD step.

Measures what `nas train` spends per step without the data loader (random inputs and labels),
so the figure is the model's training cost, comparable across machines:

    .venv/bin/python experiments/bench_train_throughput.py --model bisenetv2 \
        --input-size 256x512 --batch-size 4 --warmup 3 --iters 10

Prints a table and writes experiments/results/train_throughput-<model>-<HxW>-b<B>-<device>.json.
Run it on a quiet machine: figures from a shared host are preliminary.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nas.cli.cmd_train import parse_model_args  # noqa: E402
from nas.errors import UserError  # noqa: E402
from nas.io import atomic_write_json  # noqa: E402
from nas.models.registry import create_model  # noqa: E402
from nas.train.config import TrainConfig, parse_hw  # noqa: E402
from nas.train.evaluate import split_outputs  # noqa: E402
from nas.train.losses import aux_loss, cross_entropy  # noqa: E402
from nas.train.trainer import build_optimizer, seed_everything  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="bisenetv2", help="registered model name or arch.json")
    p.add_argument("--input-size", default="256x512", help="HxW of the training crop")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--num-classes", type=int, default=19)
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--iters", type=int, default=10, help="timed steps")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", default=str(ROOT / "experiments" / "results"), help="JSON folder")
    return p.parse_args(argv)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def bench(args: argparse.Namespace) -> dict:
    """Time `iters` full training steps after `warmup`; returns the result record."""
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available")
    h, w = parse_hw(args.input_size, "--input-size")
    seed_everything(0)
    model = create_model(args.model, num_classes=args.num_classes, **parse_model_args(args.model_arg))
    model.to(args.device).train()
    optimizer = build_optimizer(model, TrainConfig())
    x = torch.randn(args.batch_size, 3, h, w, device=args.device)
    y = torch.randint(0, args.num_classes, (args.batch_size, h, w), device=args.device)

    def step() -> float:
        _sync(args.device)
        t0 = time.perf_counter()
        logits, aux = split_outputs(model(x))
        loss = cross_entropy(logits, y) + (aux_loss(aux, y) if aux else 0.0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        _sync(args.device)
        return time.perf_counter() - t0

    for _ in range(args.warmup):
        step()
    times = sorted(step() for _ in range(args.iters))
    median = statistics.median(times)
    return {
        "model": args.model,
        "model_args": parse_model_args(args.model_arg),
        "input_hw": [h, w],
        "batch_size": args.batch_size,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "warmup": args.warmup,
        "iters": args.iters,
        "step_ms_median": round(1000 * median, 2),
        "step_ms_p10": round(1000 * times[int(0.1 * (len(times) - 1))], 2),
        "step_ms_p90": round(1000 * times[int(0.9 * (len(times) - 1))], 2),
        "images_per_s": round(args.batch_size / median, 3),
        "torch": torch.__version__,
        "host": platform.node(),
        "cpu": platform.processor() or platform.machine(),
        "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "note": "preliminary unless run on a quiet machine",
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = bench(args)
    except UserError as err:
        print(f"bench_train_throughput: error: {err}", file=sys.stderr)
        return 2
    h, w = result["input_hw"]
    cols = ["model", "input", "batch", "device", "threads", "ms/step (p10-p90)", "images/s"]
    row = [
        result["model"], f"{h}x{w}", str(result["batch_size"]), result["device"],
        str(result["threads"]),
        f"{result['step_ms_median']} ({result['step_ms_p10']}-{result['step_ms_p90']})",
        f"{result['images_per_s']:.2f}",
    ]
    widths = [max(len(c), len(v)) for c, v in zip(cols, row, strict=True)]
    print("  ".join(c.ljust(n) for c, n in zip(cols, widths, strict=True)))
    print("  ".join(v.ljust(n) for v, n in zip(row, widths, strict=True)))
    name = Path(result["model"]).stem
    out = Path(args.out) / f"train_throughput-{name}-{h}x{w}-b{result['batch_size']}-{result['device']}.json"
    atomic_write_json(out, result)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
