"""Evaluation metrics on hand-made cases, the report files, and `nas predictor train|eval`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from latency.blocks import BlockSpec
from latency.evaluate import acc_within, evaluate, kendall_tau, mape, noise_floor, write_report
from latency.ops import conv_spec
from latency.predictors import LookupPredictor, MLPPredictor, split_by_arch
from latency.predictors.synthetic import analytic_ms, random_network, synthetic_rows
from nas.cli.main import main

KEYS = {"block_mape", "network_mape", "network_acc10", "network_acc5", "kendall_tau",
        "n_blocks", "n_networks"}


def test_metrics_on_known_errors() -> None:
    true = np.ones(4)
    pred = np.array([1.0, 1.05, 1.2, 0.92])  # errors 0, 5, 20, 8 %
    assert mape(pred, true) == pytest.approx(8.25)
    assert acc_within(pred, true, 0.10) == 0.75
    assert acc_within(pred, true, 0.05) == 0.5
    assert kendall_tau(np.array([1, 2, 3]), np.array([1, 3, 2])) == pytest.approx(1 / 3)
    assert mape(np.zeros(0), np.zeros(0)) is None and kendall_tau(true[:1], true[:1]) is None


def test_noise_floor_from_round_medians_and_repeats() -> None:
    rows = pd.DataFrame({"key": ["a", "b"], "median_ms": [1.0, 2.0],
                         "extra": [json.dumps({"round_medians_ms": [1.0, 1.1, 0.9]}), "{}"]})
    assert noise_floor(rows) == pytest.approx(100 * 0.2 / 3)
    repeats = pd.DataFrame({"key": ["a", "a#1", "a#2"], "median_ms": [1.0, 1.2, 0.8]})
    assert noise_floor(repeats) == pytest.approx(100 * 0.4 / 3)
    # with repeated rows, the rounds (seconds apart) no longer stand in for passes
    other = repeats.assign(key=["c", "c#1", "c#2"],
                           extra=json.dumps({"round_medians_ms": [1, 3]}))
    both = pd.concat([rows, other])
    assert noise_floor(both) == pytest.approx(100 * 0.4 / 3)
    assert noise_floor(rows.assign(extra="{}")) is None


def _rows(specs, nets, net_ms):
    blocks = pd.DataFrame({"spec": [json.dumps(s.to_dict()) for s in specs],
                           "median_ms": [analytic_ms(s) for s in specs], "space": "toy"})
    networks = pd.DataFrame({
        "arch": [json.dumps({"space": "toy", "i": i}) for i in range(len(nets))],
        "blocks": [json.dumps([b.to_dict() for b in n]) for n in nets],
        "median_ms": net_ms, "space": "toy"})
    return blocks, networks


def test_report_values_on_a_hand_made_case() -> None:
    """Lookup hits every block exactly and there are no training networks (identity
    correction), so each network's prediction is the sum of its blocks: errors are known."""
    nets = [[conv_spec(3, 8, 32, 32)], [conv_spec(8, 16, 16, 16)], [conv_spec(16, 16, 8, 8)],
            [conv_spec(16, 32, 8, 8, k=1)]]
    sums = np.array([analytic_ms(n[0]) for n in nets])
    measured = sums / np.array([1.0, 1.04, 1.08, 1.3])  # errors 0, 4, 8, 30 %
    blocks, networks = _rows([n[0] for n in nets], nets, measured)
    split = split_by_arch(blocks, networks.iloc[0:0], test_frac=0.5)
    lookup = LookupPredictor(device="toy").fit(blocks)
    # a held-out network with an op never trained on is left out of the metrics, and counted
    up = BlockSpec("upsample", 8, 8, 8, 8, mode="bilinear", extra=(("scale", 2.0),))
    more_blocks, more_nets = _rows([up], [[nets[0][0], up]], [1.0])
    split.test_networks = pd.concat([networks, more_nets]).assign(group=[str(i) for i in range(5)])
    split.test_blocks = pd.concat([blocks, more_blocks]).assign(group="")
    ev = evaluate(lookup, split, baselines={})
    r = ev.report
    assert KEYS <= set(r) and r["baselines"] == {}
    assert r["network_mape"] == pytest.approx(42 / 4)
    assert r["network_acc10"] == 0.75 and r["network_acc5"] == 0.5
    assert r["block_mape"] == pytest.approx(0.0)
    assert r["kendall_tau"] == pytest.approx(kendall_tau(sums, measured))
    assert r["n_networks"] == 4 and r["n_blocks"] == 4
    assert r["noise_floor"] is None and "no repeated" in r["noise_note"]
    assert r["skipped_unknown_op"] == {"blocks": 1, "networks": 1}


def test_full_evaluation_writes_report(tmp_path) -> None:
    blocks, networks = synthetic_rows(24, 120, seed=2)
    split = split_by_arch(blocks, networks, test_frac=0.25, seed=0)
    mlp = MLPPredictor(device="toy", epochs=40).fit(split.train_blocks, split.train_networks)
    ev = evaluate(mlp, split)
    assert KEYS <= set(ev.report)
    assert set(ev.report["baselines"]) == {"lookup", "flops_linear", "forest"}
    for m in ev.report["baselines"].values():
        assert KEYS <= set(m) and m["n_networks"] == ev.report["n_networks"] == 6
    paths = write_report(ev, tmp_path / "out")
    assert json.loads(paths["json"].read_text())["device"] == "toy"
    assert "| flops_linear |" in paths["markdown"].read_text()
    assert Image.open(paths["scatter"]).size[0] > 500


def _fill_store(path, device: str = "toy") -> None:
    import random

    from latency.store import Store

    rng = random.Random(0)
    with Store(path) as st:
        for i in range(20):
            net = random_network(rng, (32, 64))
            for b in net:
                st.add_block(device, b, _meas(analytic_ms(b)), space="toy")
            arch = {"space": "toy", "i": i}
            st.add_network(device, arch, net, _meas(1.08 * sum(map(analytic_ms, net))),
                           input_shape=[(1, 3, 32, 64)])
        for c in (4, 8, 24, 40, 56, 72):
            for h in (4, 8, 16, 32):
                b = conv_spec(c, c, h, 2 * h)
                st.add_block(device, b, _meas(analytic_ms(b)))


def _meas(ms: float):
    from latency.profilers.base import Measurement

    return Measurement(ms, ms * 0.98, ms * 1.02, 0.01, 30, 3, "synthetic",
                       extra={"round_medians_ms": [ms, ms * 1.01, ms * 0.99]})


def test_cli_train_then_eval(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("NAS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "m.db"
    _fill_store(db)
    args = ["--device", "toy", "--store", str(db), "--json"]
    assert main(["predictor", "train", *args, "--epochs", "30"]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert KEYS <= set(trained) and trained["n_networks"] == 4
    assert trained["noise_floor"] == pytest.approx(100 * 0.02 / 3, rel=1e-3)
    assert (tmp_path / "home" / "predictors" / "toy.pt").is_file()
    for f in ("report.json", "report.md", "scatter.png"):
        assert (tmp_path / "runs" / "predictor-toy" / f).is_file()
    assert main(["predictor", "eval", *args, "--space", "toy", "--out", "ev"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["network_mape"] == pytest.approx(trained["network_mape"])
    assert again["baselines"]["lookup"]["block_mape"] == pytest.approx(
        trained["baselines"]["lookup"]["block_mape"])
    assert (tmp_path / "ev" / "report.json").is_file()


def test_cli_errors_are_one_line(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("NAS_HOME", str(tmp_path))
    db = tmp_path / "m.db"
    _fill_store(db)
    assert main(["predictor", "train", "--device", "s21", "--store", str(db)]) == 2
    assert "no block measurements for device 's21' (stored: toy)" in capsys.readouterr().err
    assert main(["predictor", "eval", "--device", "toy", "--store", str(db)]) == 2
    assert "predictor file not found" in capsys.readouterr().err
    assert main(["predictor", "train", "--device", "toy", "--store", str(tmp_path / "x.db")]) == 2
    assert "measurement store not found" in capsys.readouterr().err
