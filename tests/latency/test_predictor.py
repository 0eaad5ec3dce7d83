"""The RTSeg MLP predictor: features, learnability on held-out archs, persistence, gradients."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from latency.blocks import FEATURE_SCHEMA_VERSION, NUMERIC_FIELDS, BlockSpec, SoftBlock
from latency.features import FeatureSchema, networks_from_rows, specs_from_rows
from latency.ops import conv_spec
from latency.predictors import MLPPredictor, load_for_device, load_predictor, split_by_arch
from latency.predictors.split import block_key_str
from latency.predictors.synthetic import analytic_ms, synthetic_rows
from nas.errors import UserError


@pytest.fixture(scope="module")
def data():
    blocks, networks = synthetic_rows(60, 500, seed=0)
    split = split_by_arch(blocks, networks, test_frac=0.25, seed=0)
    mlp = MLPPredictor(device="toy", epochs=150).fit(split.train_blocks, split.train_networks)
    return split, mlp


def _mape(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.mean(np.abs(pred / true - 1)) * 100)


# ------------------------------------------------------------------------------------ features
def test_schema_is_stable_and_fixed_at_fit_time() -> None:
    a = conv_spec(8, 16, 32, 32)
    b = BlockSpec("upsample", 16, 16, 8, 8, mode="bilinear", extra=(("scale", 2.0),))
    schema = FeatureSchema.fit([b, a])
    assert schema.ops == ("conv", "upsample:bilinear")
    assert schema.numeric == NUMERIC_FIELDS + ("act", "bias", "bn", "scale")
    assert schema.version == FEATURE_SCHEMA_VERSION
    assert FeatureSchema.fit([a, b]) == schema  # order of the data does not matter
    assert FeatureSchema.from_state(schema.to_state()) == schema
    x = schema.encode([a])
    n = 2 + len(NUMERIC_FIELDS) + 4
    assert x.shape == (1, n + 6)  # + channel alignment columns
    assert x[0, :2].tolist() == [1.0, 0.0]
    assert x[0, 2] == pytest.approx(np.log1p(8))  # cin, log-scaled
    assert x[0, n - 1] == 0.0  # conv has no 'scale': encoded as 0
    # cin 8 and cout 16 padded to 8 stay, both multiples of 8
    assert x[0, n:].tolist() == pytest.approx([np.log1p(8), np.log1p(16), np.log1p(8),
                                               1.0, 1.0, 1.0])
    odd = schema.encode([conv_spec(9, 17, 32, 32)])[0, n:]
    assert odd.tolist() == pytest.approx([np.log1p(16), np.log1p(24), np.log1p(16),
                                          0.0, 0.0, 0.0])
    # an extra the schema never saw is ignored, an op it never saw is refused
    assert schema.encode([a.with_(extra=a.extra + (("new", 5.0),))]).tolist() == x.tolist()
    with pytest.raises(UserError, match="no training data for block op"):
        schema.encode([BlockSpec("mhsa", 8, 8, 4, 4, heads=2)])


# ------------------------------------------------------------------------------------ learning
def test_split_is_by_arch(data) -> None:
    split, _ = data
    test_keys = {k for n in networks_from_rows(split.test_networks) for k in block_key_str(n)}
    train_keys = set(block_key_str(specs_from_rows(split.train_blocks)))
    assert test_keys and not (test_keys & train_keys)
    assert set(block_key_str(specs_from_rows(split.test_blocks))) <= test_keys
    assert not set(split.test_networks["group"]) & set(split.train_networks["group"])


def test_mlp_learns_analytic_cost_on_heldout_archs(data) -> None:
    split, mlp = data
    specs = specs_from_rows(split.test_blocks)
    block_mape = _mape(mlp.predict(specs), split.test_blocks["median_ms"].to_numpy())
    nets = networks_from_rows(split.test_networks)
    measured = split.test_networks["median_ms"].to_numpy()
    net_mape = _mape(mlp.predict_network(nets), measured)
    assert block_mape < 8.0, block_mape
    assert net_mape < 8.0, net_mape
    # the correction removes the sum-of-blocks bias (networks cost 1.08x their blocks + 0.05)
    raw = np.array([sum(analytic_ms(b) for b in n) for n in nets])
    assert _mape(raw, measured) > 8.0
    assert abs(np.mean(mlp.predict_network(nets) / measured - 1)) < 0.04


def test_predict_is_batched_and_order_independent(data) -> None:
    _, mlp = data
    specs = specs_from_rows(data[0].test_blocks)[:20]
    one_by_one = np.array([mlp.predict([s])[0] for s in specs])
    np.testing.assert_allclose(mlp.predict(specs), one_by_one, rtol=1e-5)
    np.testing.assert_allclose(mlp.predict(specs[::-1]), one_by_one[::-1], rtol=1e-5)


# ------------------------------------------------------------------------------------ files
def test_save_load_round_trip(data, tmp_path, monkeypatch) -> None:
    split, mlp = data
    monkeypatch.setenv("NAS_HOME", str(tmp_path))
    from nas.paths import predictor_path

    mlp.save(predictor_path("toy"))
    back = load_for_device("toy")
    specs = specs_from_rows(split.test_blocks)
    np.testing.assert_array_equal(back.predict(specs), mlp.predict(specs))
    nets = networks_from_rows(split.test_networks)
    np.testing.assert_array_equal(back.predict_network(nets), mlp.predict_network(nets))
    assert back.correction.coef() == mlp.correction.coef()
    assert back.report["train"]["n_blocks"] == len(split.train_blocks)


def test_load_refuses_other_device_and_schema(data, tmp_path) -> None:
    _, mlp = data
    path = mlp.save(tmp_path / "toy.pt")
    with pytest.raises(UserError, match="trained for device 'toy', not 's21'"):
        load_predictor(path, "s21")
    payload = torch.load(path, weights_only=True)
    payload["schema"]["version"] = FEATURE_SCHEMA_VERSION + 1
    torch.save(payload, tmp_path / "old.pt")
    with pytest.raises(UserError, match="feature schema version"):
        load_predictor(tmp_path / "old.pt", "toy")
    with pytest.raises(UserError, match="not found"):
        load_predictor(tmp_path / "missing.pt", "toy")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(UserError):
        load_predictor(tmp_path / "junk.pt", "toy")


class _Payload:
    """Unpickling this runs code: it must never happen when a predictor is loaded."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_load_refuses_pickle_payload(data, tmp_path) -> None:
    _, mlp = data
    marker = tmp_path / "pwned"
    payload = torch.load(mlp.save(tmp_path / "ok.pt"), weights_only=True)
    payload["report"] = {"x": _Payload(str(marker))}
    torch.save(payload, tmp_path / "evil.pt")
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(_Payload(str(marker))))
    for name in ("evil.pt", "evil.pkl"):
        with pytest.raises(UserError, match="refused|not a predictor"):
            load_predictor(tmp_path / name, "toy")
    assert not marker.exists()


# ------------------------------------------------------------------------------------ gradients
def test_expected_matches_predict_network_for_hard_blocks(data) -> None:
    split, mlp = data
    net = networks_from_rows(split.test_networks)[0]
    value = mlp.expected([SoftBlock(b) for b in net])
    assert float(value) == pytest.approx(float(mlp.predict_network([net])[0]), rel=1e-4)


def test_expected_gradients_reach_soft_channels_and_probs(data) -> None:
    _, mlp = data
    cin = torch.tensor(24.0, requires_grad=True)
    cout = torch.tensor(40.0, requires_grad=True)
    prob = torch.tensor(0.6, requires_grad=True)
    terms = [
        SoftBlock(conv_spec(3, 32, 64, 128, stride=2)),
        SoftBlock(conv_spec(32, 64, 32, 64), soft={"cin": cin, "cout": cout}),
        SoftBlock(conv_spec(64, 64, 32, 64, k=5, groups=64), soft={"cin": cout}, prob=prob),
    ]
    ms = mlp.expected(terms)
    assert ms.ndim == 0 and float(ms.detach()) > 0
    ms.backward()
    for t in (cin, cout, prob):
        assert t.grad is not None and torch.isfinite(t.grad) and t.grad != 0
    assert prob.grad > 0  # running a block more often costs time
    assert all(p.grad is None for p in mlp.net.parameters())  # the predictor stays fixed


def test_soft_encoding_equals_the_hard_spec_it_stands_for() -> None:
    """The gradient search feeds exact kept counts (STE) as soft overrides of a full-width spec:
    every column, alignment ones included, must equal the derived block's encoding."""
    full = BlockSpec("lir", 64, 64, 16, 32, k=3, expansion=6.0)
    derived = full.with_(cin=37, cout=37, expansion=163 / 37)
    schema = FeatureSchema.fit([full, derived])
    c = torch.tensor(37.0, requires_grad=True)
    h = torch.tensor(163.0, requires_grad=True)
    x = schema.encode_soft([SoftBlock(full, {"cin": c, "cout": c, "expansion": h / c}, 1.0)])
    np.testing.assert_allclose(x.detach().numpy(), schema.encode([derived]), atol=1e-6)
    x.sum().backward()
    assert c.grad is not None and h.grad is not None and float(h.grad) != 0.0
