"""derive / set_arch / build / inherit agree exactly; blocks() covers the network; ONNX export."""

from __future__ import annotations

import random

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn

import search_spaces
from nas.models.counting import count_macs
from search_spaces.rtseg.supernet import RTSegSupernet

NUM_CLASSES = 5
SPACE = search_spaces.get("rtseg")


def _randomise(net: nn.Module) -> None:
    """Non-trivial norm parameters and statistics, so a wrong channel copy cannot hide."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def _supernet() -> RTSegSupernet:
    torch.manual_seed(0)
    net = SPACE.supernet(NUM_CLASSES, **SPACE.small_cfg())
    _randomise(net)
    return net.eval()


def _archs() -> list[dict]:
    archs = [SPACE.sample(random.Random(seed), **SPACE.small_cfg())
             for seed in range(4)]
    # make sure every op (skip included) and pruned channels occur
    archs[0]["ops"] = {"seg3": ["skip"], "seg4": ["mhsa"], "seg5": ["lir", "skip"]}
    archs[1]["ops"] = {"seg3": ["mhsa"], "seg4": ["skip"], "seg5": ["mhsa", "mhsa"]}
    return archs


@pytest.mark.parametrize("arch", _archs(), ids=lambda a: "-".join(sum(a["ops"].values(), [])))
def test_set_arch_equals_build_plus_inherit(arch: dict) -> None:
    sup = _supernet()
    pruned = sum(len(v) for v in arch["channels"].values())
    assert pruned < sum(sup.group_sizes.values())
    sup.set_arch(arch)
    sub = SPACE.build(arch, NUM_CLASSES)
    SPACE.inherit(sub, sup, arch)
    sub.eval()
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        want, got = sup(x), sub(x)
    assert got.shape == (2, NUM_CLASSES, 64, 96)
    assert want.abs().max() > 1e-3  # a real signal, not zeros
    assert (want - got).abs().max().item() <= 1e-5
    derived = sup.derive()
    norm = SPACE.validate(arch)
    assert derived["ops"] == norm["ops"] and derived["channels"] == norm["channels"]
    n_skip = sum(op == "skip" for ops in arch["ops"].values() for op in ops)
    n_sup = sum(len(st.blocks) for st in sup.segment.values())
    assert sum(len(st.blocks) for st in sub.segment.values()) == n_sup - n_skip


def test_derive_of_free_gates_matches_build_plus_inherit() -> None:
    """The decisions the gates and logits hold during search, without set_arch."""
    sup = _supernet()
    sup.set_mode("search")
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for c in sup.gates.values():
            c.copy_(torch.rand(c.shape, generator=g))
            c[0] = 0.9  # at least one channel kept per group
        for i, blk in enumerate(sup.mixed().values()):
            blk.logits.copy_(torch.eye(3)[i % 3] + 0.1 * torch.rand(3, generator=g))
    arch = sup.derive()
    assert any(op == "skip" for ops in arch["ops"].values() for op in ops)
    sub = SPACE.build(arch, NUM_CLASSES)
    SPACE.inherit(sub, sup, arch)
    x = torch.randn(1, 3, 48, 80)
    with torch.no_grad():
        assert (sup(x) - sub.eval()(x)).abs().max().item() <= 1e-5


@pytest.mark.parametrize("hw", [(64, 96), (50, 70), (33, 47)])
def test_blocks_cover_the_network(hw: tuple[int, int]) -> None:
    for seed in range(3):
        arch = SPACE.sample(random.Random(seed), **SPACE.small_cfg())
        net = SPACE.build(arch, NUM_CLASSES)
        macs, shape = count_macs(net, (1, 3, *hw))
        assert shape == [1, NUM_CLASSES, *hw]  # any input size, logits at input size
        blocks = SPACE.blocks(arch, hw, num_classes=NUM_CLASSES)
        assert sum(b.macs() for b in blocks) == macs
        ops = {b.op for b in blocks}
        assert {"conv", "rtseg_stem", "rtseg_down", "rtseg_ce", "bga", "rtseg_head"} <= ops


def test_each_block_runs_alone() -> None:
    arch = _archs()[1]
    for spec in SPACE.blocks(arch, (64, 96), num_classes=NUM_CLASSES):
        module = spec.to_module()
        with torch.no_grad():
            out = module(*spec.example_inputs())
        assert out.shape[1] == spec.cout, spec.op


def _export(model: nn.Module, x: torch.Tensor | list[torch.Tensor], path: str) -> np.ndarray:
    xs = x if isinstance(x, list) else [x]
    names = [f"x{i}" for i in range(len(xs))]
    torch.onnx.export(model, tuple(xs), path, opset_version=17, dynamo=False,
                      input_names=names, output_names=["y"])
    assert onnx.load(path).opset_import[0].version == 17
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return sess.run(None, {n: t.numpy() for n, t in zip(names, xs, strict=True)})[0]


def test_each_block_op_exports_to_onnx(tmp_path) -> None:
    """The profiler exports blocks alone: every op of the space must survive it."""
    arch = _archs()[1]
    arch["ops"]["seg4"] = ["lir"]
    done = set()
    for spec in SPACE.blocks(arch, (64, 96), num_classes=NUM_CLASSES):
        if spec.op in done:
            continue
        done.add(spec.op)
        module, xs = spec.to_module(), spec.example_inputs()
        got = _export(module, xs, str(tmp_path / f"{spec.op}.onnx"))
        with torch.no_grad():
            assert np.abs(got - module(*xs).numpy()).max() <= 1e-4, spec.op
    assert {"lir", "mhsa", "bga", "rtseg_stem", "rtseg_down", "rtseg_ce", "rtseg_head"} <= done


def test_built_subnet_exports_to_onnx(tmp_path) -> None:
    arch = _archs()[1]  # MHSA at odd token grids (padding) and skipped blocks
    sup = _supernet()
    sub = SPACE.build(arch, NUM_CLASSES)
    SPACE.inherit(sub, sup, arch)
    sub.eval()
    x = torch.randn(1, 3, 64, 96)
    got = _export(sub, x, str(tmp_path / "sub.onnx"))
    with torch.no_grad():
        want = sub(x).numpy()
    assert np.abs(got - want).max() <= 1e-4


def test_searching_supernet_exports_to_onnx(tmp_path) -> None:
    sup = _supernet()
    sup.set_arch(_archs()[0])  # search mode, eval: gates and argmax choices as tensor ops
    x = torch.randn(1, 3, 64, 64)
    got = _export(sup, x, str(tmp_path / "sup.onnx"))
    with torch.no_grad():
        want = sup(x).numpy()
    assert np.abs(got - want).max() <= 1e-4


@pytest.mark.slow
def test_built_subnet_exports_with_the_dynamo_exporter(tmp_path) -> None:
    arch = _archs()[1]
    sub = SPACE.build(arch, NUM_CLASSES).eval()
    x = torch.randn(1, 3, 64, 96)
    path = str(tmp_path / "sub.onnx")
    torch.onnx.export(sub, (x,), path, opset_version=17, dynamo=True)
    assert onnx.load(path).opset_import[0].version == 17
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        assert np.abs(got - sub(x).numpy()).max() <= 1e-4
