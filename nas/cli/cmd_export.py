"""`nas export RUN`: write the searched subnet as ONNX (and TFLite), check it, time it.

    nas export runs/my-run --format onnx
    nas export my-run --format onnx --format tflite      # TFLite needs `make install-tflite`
    nas export my-run --format onnx --device cpu-mt      # time it on another device

The runtime's output must match PyTorch's within 1e-4 x max(1, max |output|) (max abs diff) or
the command fails.
Measured latency (the device's profiler) is printed next to the predicted one.
"""

from __future__ import annotations

import argparse

from nas.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="export a search run's subnet; check and time it",
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", metavar="RUN", help="search run folder (or its name under runs/)")
    p.add_argument("--format", action="append", dest="formats", metavar="FMT",
                   help="onnx (default) or tflite; repeatable")
    p.add_argument("--device", help="device to time it on (default: the run's target device)")
    p.add_argument("--no-measure", action="store_true", help="export and check only")
    p.add_argument("--with-supernet", action="store_true",
                   help="also time the full supernet, interleaved, for the comparison")
    p.add_argument("--host-wait", type=float, default=0.0, metavar="S",
                   help="while this host's calibration block runs >5%% slower than its quiet "
                        "speed (the predictor's), time it again every 30 s, up to S seconds")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nas.export.run_export import export_run
    from nas.search.retrain import find_run

    if not args.host_wait >= 0:
        raise UserError(f"--host-wait: expected seconds >= 0, got {args.host_wait}")
    folder = find_run(args.run)
    res = export_run(folder, list(dict.fromkeys(args.formats or ["onnx"])),
                     device=args.device, measure=not args.no_measure,
                     with_supernet=args.with_supernet, host_wait_s=args.host_wait)
    print(f"wrote {folder}/export/ and updated {folder}/summary.json")
    return 0 if res.ok else 1
