"""`nas predictor train|eval`: fit a device's latency predictor on the store and report on it.

`train` splits the device's measurements by architecture, fits the RTSeg MLP and the baselines on
the training side, saves the MLP to `$NAS_HOME/predictors/<device>.pt` (with the held-out arch
list, so `eval` reproduces the split) and writes the report. `eval` reloads the saved MLP,
refits the baselines on the same split and reports again, optionally for one space only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from nas.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("predictor", help="train and evaluate latency predictors")
    sub = parser.add_subparsers(dest="predictor_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--device", required=True, help="device name (latency/devices.yaml)")
        p.add_argument("--store", default=None, help="measurement store (default $NAS_HOME/latency.db)")
        p.add_argument("--predictor", default=None,
                       help="predictor file (default $NAS_HOME/predictors/<device>.pt)")
        p.add_argument("--out", default=None, help="report folder (default runs/predictor-<device>)")
        p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")

    train = sub.add_parser("train", help="fit the MLP and baselines on the store; save; report")
    common(train)
    train.add_argument("--test-frac", type=float, default=0.2, help="share of archs held out")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--epochs", type=int, default=300, help="MLP training epochs")
    train.set_defaults(func=run_train)

    ev = sub.add_parser("eval", help="report the saved predictor on its held-out archs")
    common(ev)
    ev.add_argument("--space", default=None, help="only held-out networks of this space")
    ev.set_defaults(func=run_eval)


def load_rows(device: str, store: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Block and network rows of `device`, `median_ms` being the fast figure that predictors
    learn (latency/statistic.py); a missing store or no blocks is a UserError."""
    from latency.statistic import with_fast_ms
    from latency.store import Store
    from nas.paths import store_path

    path = Path(store) if store else store_path()
    if not path.is_file():
        raise UserError(f"{path}: measurement store not found; run `nas profile` first")
    with Store(path) as st:
        blocks, networks = st.rows(device, "block"), st.rows(device, "network")
        known = ", ".join(st.devices()) or "(none)"
    if len(blocks) == 0:
        raise UserError(f"{path}: no block measurements for device '{device}' (stored: {known}); "
                        f"run `nas profile --device {device}` first")
    return with_fast_ms(blocks), with_fast_ms(networks)


def _finish(args: argparse.Namespace, evaluation: object) -> int:
    from latency.evaluate import Evaluation, write_report

    assert isinstance(evaluation, Evaluation)
    out = Path(args.out) if args.out else Path("runs") / f"predictor-{args.device}"
    paths = write_report(evaluation, out)
    r = evaluation.report
    if args.json:
        print(json.dumps(r, indent=2))
    else:
        def pct(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.2f}%"

        print(f"{r['predictor']} on {r['n_networks']} held-out networks / {r['n_blocks']} blocks: "
              f"block MAPE {pct(r['block_mape'])}, network MAPE {pct(r['network_mape'])}, "
              f"acc10 {r['network_acc10']}, tau {r['kendall_tau']}")
    print(f"report: {paths['markdown']} {paths['json']} {paths['scatter']}",
          file=sys.stderr if args.json else sys.stdout)
    return 0


def run_train(args: argparse.Namespace) -> int:
    from latency.evaluate import evaluate
    from latency.predictors import MLPPredictor, split_by_arch
    from nas.paths import predictor_path

    if not 0.0 < args.test_frac < 1.0:
        raise UserError(f"--test-frac: expected a number in (0, 1), got {args.test_frac}")
    if args.epochs < 1:
        raise UserError(f"--epochs: expected >= 1, got {args.epochs}")
    blocks, networks = load_rows(args.device, args.store)
    split = split_by_arch(blocks, networks, test_frac=args.test_frac, seed=args.seed)
    mlp = MLPPredictor(device=args.device, seed=args.seed, epochs=args.epochs)
    mlp.fit(split.train_blocks, split.train_networks)
    evaluation = evaluate(mlp, split, raw_blocks=blocks, raw_networks=networks)
    mlp.report.update(
        split={"mode": split.mode, "seed": args.seed, "test_frac": args.test_frac,
               "test_archs": split.test_archs},
        heldout={k: v for k, v in evaluation.report.items() if k != "baselines"},
        store=str(args.store or ""),
    )
    saved = mlp.save(args.predictor or predictor_path(args.device))
    print(f"predictor: {saved}", file=sys.stderr if args.json else sys.stdout)
    return _finish(args, evaluation)


def run_eval(args: argparse.Namespace) -> int:
    from latency.evaluate import evaluate
    from latency.predictors import load_predictor, split_by_arch
    from nas.paths import predictor_path

    path = Path(args.predictor) if args.predictor else predictor_path(args.device)
    mlp = load_predictor(path, args.device)
    blocks, networks = load_rows(args.device, args.store)
    info = mlp.report.get("split", {})
    if args.space is not None and len(networks) and args.space not in set(networks["space"]):
        raise UserError(f"--space: no networks of space '{args.space}' measured on "
                        f"'{args.device}' (measured: {sorted(set(networks['space']))})")
    split = split_by_arch(
        blocks, networks, test_frac=float(info.get("test_frac", 0.2)),
        seed=int(info.get("seed", 0)),
        test_archs=info.get("test_archs") if info.get("mode") == "arch" else None,
    )
    evaluation = evaluate(mlp, split, space=args.space, raw_blocks=blocks, raw_networks=networks)
    return _finish(args, evaluation)
