"""Detail guidance (STDC): detail ground truth, BCE + Dice, and heads hooked onto 1/8 features."""

from __future__ import annotations

import pytest
import torch

from nas.errors import UserError
from nas.models.counting import count_params
from nas.models.registry import create_model
from nas.train.boosters import BoosterConfig, BoosterLoss, boost
from nas.train.boosters.detail import DetailTarget, detail_loss, dice_loss
from nas.train.boosters.taps import BoostedNet
from nas.train.trainer import LossContext


def step_label(h: int = 32, w: int = 32, col: int = 16) -> torch.Tensor:
    lab = torch.zeros(1, h, w, dtype=torch.long)
    lab[:, :, col:] = 3
    return lab


def test_detail_target_marks_the_class_edge_only():
    target = DetailTarget()(step_label())
    assert target.shape == (1, 1, 32, 32)
    assert set(target.unique().tolist()) == {0.0, 1.0}
    cols = target[0, 0].sum(0).nonzero().flatten().tolist()
    # the Laplacian lights the higher-valued side of the step; coarser strides widen it a bit;
    # the image border is no edge
    assert 16 in cols and all(14 <= c <= 20 for c in cols)
    assert DetailTarget()(torch.full((1, 16, 16), 2)).sum() == 0  # no edge, no detail


def test_detail_target_fuse_is_a_parameter_initialised_as_stdc():
    t = DetailTarget()
    assert [p for p in t.parameters()] == [t.fuse]
    assert torch.allclose(t.fuse.flatten(), torch.tensor([0.6, 0.3, 0.1]))


def test_dice_is_zero_for_a_perfect_prediction_and_high_for_the_inverse():
    g = (torch.rand(2, 1, 8, 8) > 0.5).float()
    assert float(dice_loss(g, g)) == pytest.approx(0.0, abs=1e-6)
    assert float(dice_loss(1 - g, g)) > 0.9


def test_detail_loss_prefers_the_right_map_and_ignores_unlabelled_pixels():
    labels = step_label()
    target = DetailTarget()(labels)
    good = detail_loss((target * 2 - 1) * 8, target, labels)
    bad = detail_loss(-(target * 2 - 1) * 8, target, labels)
    assert float(good) < 0.1 < float(bad)
    small = detail_loss(torch.zeros(1, 1, 4, 4), target, labels)  # upsampled to the label
    assert torch.isfinite(small)
    nothing = detail_loss(torch.randn(1, 1, 32, 32), target, torch.full_like(labels, 255))
    assert float(nothing) == 0.0


def _bisenet() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("bisenetv2", num_classes=4, width_mult=0.125, head_width=64)


@pytest.mark.parametrize("name,kwargs,tap", [
    ("bisenetv2", {"width_mult": 0.125, "head_width": 64}, "detail_branch"),
    ("rtseg-supernet", {"preset": "tiny"}, "detail."),
    ("ffnet22S_BBB_mobile", {}, "stages.1"),  # a known family: its 1/8 stage
])
def test_detail_head_hooks_the_eighth_feature_at_zero_inference_cost(name, kwargs, tap):
    torch.manual_seed(0)
    net = create_model(name, num_classes=4, **kwargs)
    bare_keys, bare_params = set(net.state_dict()), count_params(net)
    boosted = boost(net, BoosterConfig(detail=True))
    assert isinstance(boosted, BoostedNet) and boosted.tap.startswith(tap)
    x = torch.randn(2, 3, 64, 64)
    out = boosted.train()(x)
    assert out["detail"].shape == (2, 1, 8, 8)
    assert len(out["aux"]) == len(getattr(net, "aux_heads", []))
    boosted.eval()
    assert torch.equal(boosted(x), net(x))  # eval: the model's own output, hook inert
    extra = set(boosted.state_dict()) - bare_keys
    assert extra and all(k.startswith("booster.aux_heads.detail.") for k in extra)
    assert bare_keys <= set(boosted.state_dict())
    assert count_params(boosted) == bare_params  # the head is training-only


def test_stdc_uses_its_own_detail_head():
    torch.manual_seed(0)
    net = create_model("stdc1-seg", num_classes=4, width_mult=0.125)
    boosted = boost(net, BoosterConfig(detail=True))
    assert not hasattr(boosted, "booster") and boosted.tap is None
    out = boosted.train()(torch.randn(2, 3, 64, 64))
    assert out["detail"].shape == (2, 1, 8, 8)
    assert set(boosted.state_dict()) == set(net.state_dict())


def test_a_bad_tap_is_a_user_error():
    with pytest.raises(UserError, match="no such module"):
        boost(_bisenet(), BoosterConfig(detail=True, tap="semantic_branch.nope"))


def test_the_detail_loss_trains_the_head_and_the_backbone():
    torch.manual_seed(0)
    boosted = boost(_bisenet(), BoosterConfig(detail=True)).train()
    hook = BoosterLoss(BoosterConfig(detail=True))
    opt = torch.optim.SGD(boosted.parameters(), lr=0.05, momentum=0.9)
    x = torch.randn(2, 3, 32, 32)
    labels = step_label().repeat(2, 1, 1)
    losses = []
    for it in range(12):
        out = boosted(x)
        loss = hook(LossContext(boosted, x, labels, out["out"], out["aux"], it))["detail"]
        opt.zero_grad()
        loss.backward()
        if it == 0:
            assert boosted.detail_branch.stages[0][0].conv.weight.grad.abs().sum() > 0
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
