"""Network-aware fine-tuning of the MLP, calibration-scaled targets, and their file format."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from latency.blocks import SoftBlock
from latency.evaluate import evaluate
from latency.features import networks_from_rows
from latency.predictors import MLPPredictor, load_predictor, split_by_arch
from latency.predictors.calibration import calib_medians, nominal_ms, reference_calib
from latency.predictors.synthetic import synthetic_rows
from nas.errors import UserError


def _net_log_rmse(pred: MLPPredictor, networks: pd.DataFrame) -> float:
    p = pred.predict_network(networks_from_rows(networks))
    return float(np.sqrt(np.mean(np.log(p / networks["median_ms"].to_numpy()) ** 2)))


@pytest.fixture(scope="module")
def fitted():
    blocks, networks = synthetic_rows(40, 300, seed=3, noise=0.02)
    split = split_by_arch(blocks, networks, test_frac=0.25, seed=0)
    kw = {"device": "toy", "epochs": 25, "seed": 0}
    plain = MLPPredictor(network_weight=0.0, **kw).fit(split.train_blocks, split.train_networks)
    tuned = MLPPredictor(network_epochs=40, **kw).fit(split.train_blocks, split.train_networks)
    return split, plain, tuned


def test_network_fit_lowers_the_training_network_error(fitted) -> None:
    split, plain, tuned = fitted
    assert "network_fit" not in plain.report
    before = _net_log_rmse(plain, split.train_networks)
    after = _net_log_rmse(tuned, split.train_networks)
    assert after < 0.8 * before, (before, after)
    fig = tuned.report["network_fit"]
    assert fig["n_networks"] == len(split.train_networks)
    assert fig["network_log_rmse_after"] == pytest.approx(after, rel=1e-3)
    assert fig["network_log_rmse_after"] < fig["network_log_rmse_before"]


def test_network_fit_keeps_expected_equal_to_predict_network(fitted) -> None:
    split, _, tuned = fitted
    net = networks_from_rows(split.test_networks)[0]
    value = tuned.expected([SoftBlock(b) for b in net])
    assert float(value) == pytest.approx(float(tuned.predict_network([net])[0]), rel=1e-4)
    assert all(not p.requires_grad for p in tuned.net.parameters())


def test_network_fit_round_trips_through_a_file(fitted, tmp_path) -> None:
    split, _, tuned = fitted
    back = load_predictor(tuned.save(tmp_path / "toy.pt"), "toy")
    nets = networks_from_rows(split.test_networks)
    np.testing.assert_array_equal(back.predict_network(nets), tuned.predict_network(nets))
    assert back.correction.coef() == tuned.correction.coef()
    assert (back.network_weight, back.network_epochs) == (1.0, 40)
    assert back.report["network_fit"] == tuned.report["network_fit"]


def test_file_of_an_older_format_asks_to_retrain(fitted, tmp_path) -> None:
    _, _, tuned = fitted
    payload = torch.load(tuned.save(tmp_path / "toy.pt"), weights_only=True)
    payload["format_version"] = 2
    torch.save(payload, tmp_path / "old.pt")
    with pytest.raises(UserError, match="file format 2.*retrain"):
        load_predictor(tmp_path / "old.pt", "toy")


# ------------------------------------------------------------------------------- calibration
def _with_calib(rows: pd.DataFrame, calib: np.ndarray) -> pd.DataFrame:
    return rows.assign(extra=[json.dumps({"calib_ms": [c, c * 1.01, c * 0.99]}) for c in calib])


def test_nominal_ms_scales_rows_by_their_batch_calibration() -> None:
    rows = pd.DataFrame({"median_ms": [1.0, 1.3, 2.0, 5.0],
                         "extra": [json.dumps({"calib_ms": [0.04, 0.041, 0.039]}),
                                   json.dumps({"calib_ms": [0.052]}), "{}", None]})
    np.testing.assert_allclose(calib_medians(rows)[:2], [0.04, 0.052])
    assert np.isnan(calib_medians(rows)[2:]).all()
    assert reference_calib(rows) == pytest.approx(0.046)
    # a slow batch comes back to the reference state; rows without calibration are kept
    np.testing.assert_allclose(nominal_ms(rows, 0.04), [1.0, 1.0, 2.0, 5.0])
    np.testing.assert_allclose(nominal_ms(rows, None), rows["median_ms"])
    assert reference_calib(rows.assign(extra="{}")) is None


def test_a_slow_batch_does_not_bias_the_predictor(tmp_path) -> None:
    """Rows timed while the host ran 1.35x slower (calibration block too) fit like fast ones."""
    blocks, networks = synthetic_rows(30, 200, seed=1)
    rng = np.random.default_rng(0)
    slow_b = rng.random(len(blocks)) < 0.3
    slow_n = rng.random(len(networks)) < 0.3
    calib_b, calib_n = np.where(slow_b, 0.054, 0.04), np.where(slow_n, 0.054, 0.04)
    fast = (_with_calib(blocks, np.full(len(blocks), 0.04)),
            _with_calib(networks, np.full(len(networks), 0.04)))
    slow = (_with_calib(blocks, calib_b).assign(median_ms=blocks["median_ms"] * calib_b / 0.04),
            _with_calib(networks, calib_n).assign(
                median_ms=networks["median_ms"] * calib_n / 0.04))
    kw = {"device": "toy", "epochs": 20, "network_epochs": 5, "seed": 0}
    a = MLPPredictor(**kw).fit(*fast)
    b = MLPPredictor(**kw).fit(*slow)
    assert a.calib_ref == pytest.approx(0.04) and b.calib_ref == pytest.approx(0.04)
    nets = networks_from_rows(networks)
    np.testing.assert_allclose(b.predict_network(nets), a.predict_network(nets), rtol=1e-4)
    assert load_predictor(b.save(tmp_path / "b.pt"), "toy").calib_ref == pytest.approx(0.04)
    # the report judges the slow held-out rows against the reference state too
    split = split_by_arch(*slow, test_frac=0.3, seed=0)
    mlp = MLPPredictor(**kw).fit(split.train_blocks, split.train_networks)
    report = evaluate(mlp, split, baselines={}).report
    cal = report["calibrated"]
    assert cal["reference_calib_ms"] == pytest.approx(0.04) and cal["baselines"] == {}
    assert split.test_networks["extra"].str.contains("0.054").any()
    # ... which are the figures against the same held-out archs timed at full speed
    same = split_by_arch(*fast, test_archs=split.test_archs)
    fast_report = evaluate(mlp, same, baselines={}).report
    for key in ("block_mape", "network_mape", "network_acc10"):
        assert cal[key] == pytest.approx(fast_report[key], rel=1e-6)
    assert cal["network_mape"] != pytest.approx(report["network_mape"])
