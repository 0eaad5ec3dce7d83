"""Slimmable RTSeg archs with MHSA blocks (`nas train --model ARCH --slimmable`): every width
trains, and each extracted width is exactly the uniform slimming of the arch."""

from __future__ import annotations

import copy
import json

import pytest
import torch

import search_spaces
from nas.cli.main import main
from nas.data.synth_cache import ensure_synth
from nas.train.boosters import BoosterConfig, BoosterLoss, boost, extract_width, set_width
from nas.train.boosters.export import uniform_arch
from nas.train.boosters.slim_tokens import SlimTokenLinear, is_mhsa
from nas.train.boosters.slimmable import make_slimmable
from nas.train.trainer import LossContext
from search_spaces.rtseg import full_arch

WIDTHS = (0.25, 0.5, 1.0)


def mhsa_arch() -> dict:
    """The tiny supernet's arch with an MHSA block first in every mixed stage."""
    arch = full_arch(preset="tiny")
    arch["ops"] = {s: ["mhsa", *ops[1:]] for s, ops in arch["ops"].items()}
    return search_spaces.get("rtseg").validate(arch)


def test_every_width_extracts_to_the_uniformly_slimmed_arch():
    space, arch = search_spaces.get("rtseg"), mhsa_arch()
    torch.manual_seed(0)
    net = space.build(arch, 4).eval()
    assert any(is_mhsa(m) for m in net.modules())
    x = torch.randn(1, 3, 64, 64)
    want_full = net(x)
    slim = make_slimmable(copy.deepcopy(net), WIDTHS).eval()
    assert torch.allclose(slim(x), want_full, atol=1e-5)  # width 1: the plain network
    for w in WIDTHS:
        set_width(slim, w)
        want = slim(x)
        plain = extract_width(slim, w)
        assert not any(isinstance(m, SlimTokenLinear) for m in plain.modules())
        assert torch.allclose(plain(x), want, atol=1e-5)
        built = space.build(uniform_arch(arch, w), 4)
        built.load_state_dict(plain.state_dict())  # strict: same layers, same sizes
        assert torch.allclose(built.eval()(x), want, atol=1e-5)


def test_the_small_widths_train_the_attention_weights():
    cfg = BoosterConfig(slimmable=True, widths=WIDTHS, detail=True)
    torch.manual_seed(0)
    net = boost(search_spaces.get("rtseg").build(mhsa_arch(), 4), cfg).train()
    x, labels = torch.randn(2, 3, 64, 64), torch.randint(0, 4, (2, 64, 64))
    out = net(x)
    terms = BoosterLoss(cfg)(LossContext(net, x, labels, out["out"], out["aux"], 0))
    assert float(terms["slim_kd"].detach()) > 0
    terms["slim_kd"].backward()  # the distillation reaches the MHSA only through small widths
    qkv = next(m for m in net.modules() if isinstance(m, SlimTokenLinear) and m.keep_out)
    assert qkv.weight.grad is not None and qkv.weight.grad.abs().sum() > 0


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return str(ensure_synth((32, 64), 4, 2, 0, root=tmp_path_factory.mktemp("d") / "synth"))


def test_nas_train_slimmable_on_an_mhsa_arch_exports_each_width(tmp_path, monkeypatch, data):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(mhsa_arch()))
    assert main(["train", "--model", str(path), "--data", data, "--name", "s", "--slimmable",
                 "--slim-widths", "0.5,1.0", "--iters", "2", "--batch-size", "2", "--crop",
                 "32x64", "--no-progress"]) == 0
    run = tmp_path / "runs" / "s"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["slim"]["0.5"]["params"] < summary["slim"]["1"]["params"]
    exported = json.loads((run / "slim" / "w0.50" / "arch.json").read_text())
    assert "mhsa" in {op for ops in exported["ops"].values() for op in ops}
