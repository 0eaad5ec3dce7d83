"""Does skipping closed cells and routes save time, not only counted MACs?

    .venv/bin/python -m search_spaces.routing.bench --hw 256 512 --runs 5

Builds a Layer16 supernet (small gates), fixes its gates so that a seeded random share of the
routes is closed (input-independent, so every run does the same work), and times one image:
- `soft`: every cell computed, routes multiplied by their gates (no skipping);
- `dynamic`: batch-1 inference that skips closed cells and zero-gate routes;
- `all-open`: dynamic inference with every gate open (the full network plus gates);
- `static`: the same routes as a plain network (build + inherit), no gates.
Prints median milliseconds and executed GMACs per image. CPU timings on a shared machine are
noisy: treat them as preliminary.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch

from search_spaces.routing.dynamic import count_conv_macs, run_image
from search_spaces.routing.supernet import RoutingSupernet
from search_spaces.routing.topology import cell_key


def fix_gates(net: RoutingSupernet, closed: set[tuple[int, int, str]]) -> None:
    """Input-independent gates: routes in `closed` get exactly 0, the others 1."""
    with torch.no_grad():
        for i, s in net.topo.cells():
            cell = net.cells[cell_key(i, s)]
            assert cell.gate is not None
            cell.gate.logits.weight.zero_()
            for r_idx, r in enumerate(cell.routes):
                cell.gate.logits.bias[r_idx] = -10.0 if (i, s, r) in closed else 10.0


def _median_ms(fn, runs: int) -> float:  # noqa: ANN001
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    import search_spaces

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hw", type=int, nargs=2, default=(256, 512))
    p.add_argument("--preset", default="layer16")
    p.add_argument("--closed", type=float, default=0.5, help="share of routes closed")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    space = search_spaces.get("routing")
    net = space.supernet(19, preset=args.preset, small_gate=True).eval()
    rng = random.Random(0)
    every = [(i, s, r) for i, s in net.topo.cells() for r in net.topo.allowed_routes(i, s)]
    closed = {k for k in every if rng.random() < args.closed}
    x = torch.randn(1, 3, *args.hw)

    rows = []
    fix_gates(net, set())
    _, rec = run_image(net, x)
    rows.append(("all-open", _median_ms(lambda: run_image(net, x), args.runs), rec.macs))
    fix_gates(net, closed)
    _, rec = run_image(net, x)
    rows.append(("dynamic", _median_ms(lambda: run_image(net, x), args.runs), rec.macs))
    net.dynamic_inference = False
    with count_conv_macs(net) as c, torch.no_grad():
        net(x)

    def run_soft() -> None:
        with torch.no_grad():
            net(x)

    rows.append(("soft", _median_ms(run_soft, args.runs), c[0]))
    net.dynamic_inference = True
    net.reset_usage()
    run_image(net, x)
    arch = net.derive()
    static = space.build(arch, 19).eval()
    space.inherit(static, net, arch)
    with count_conv_macs(static) as c, torch.no_grad():
        static(x)

    def run_static() -> None:
        with torch.no_grad():
            static(x)

    rows.append(("static", _median_ms(run_static, args.runs), c[0]))
    print(f"{args.preset} small gates, input {args.hw[0]}x{args.hw[1]}, "
          f"{len(closed)}/{len(every)} routes closed, {args.threads} thread(s)")
    for name, ms, macs in rows:
        print(f"  {name:9s} {ms:9.1f} ms  {macs / 1e9:8.3f} GMACs executed")


if __name__ == "__main__":
    main()
