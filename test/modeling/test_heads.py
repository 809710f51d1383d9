"""Decoder and branches: output shapes at the documented strides and gradients reaching every weight."""
from collections import OrderedDict

import pytest
import torch

from panoptic_ros.modeling.center_head import CenterHead
from panoptic_ros.modeling.detection_head import DETECTION_LEVELS, FCOSHead
from panoptic_ros.modeling.fpn import FPN, PYRAMID_NAMES, PYRAMID_STRIDES
from panoptic_ros.modeling.semantic_head import SemanticHead, group_norm

H, W = 128, 256


def pyramid(channels=16, batch=2):
    return OrderedDict((n, torch.randn(batch, channels, H // s, W // s, requires_grad=True))
                       for n, s in zip(PYRAMID_NAMES, PYRAMID_STRIDES))


def assert_all_grads(module):
    missing = [n for n, p in module.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"no (finite) gradient for {missing}"
    assert any(p.grad.abs().sum() > 0 for p in module.parameters())


def test_fpn_levels_and_gradients():
    widths = [8, 16, 24, 32]
    fpn = FPN(widths, 16)
    feats = OrderedDict((f"c{i + 2}", torch.randn(1, c, H // s, W // s))
                        for i, (c, s) in enumerate(zip(widths, (4, 8, 16, 32))))
    out = fpn(feats)
    assert list(out) == list(PYRAMID_NAMES)
    for (name, p), s in zip(out.items(), PYRAMID_STRIDES):
        assert p.shape == (1, 16, H // s, W // s), name
    sum(p.sum() for p in out.values()).backward()
    assert_all_grads(fpn)


def test_semantic_head_shape_and_gradients():
    head = SemanticHead(16, 8, num_classes=5)
    feats = pyramid()
    logits = head(feats)
    assert logits.shape == (2, 5, H // 4, W // 4)
    logits.square().mean().backward()
    assert_all_grads(head)
    # every level p2..p5 contributes (and p6/p7 are not used)
    for name in ("p2", "p3", "p4", "p5"):
        assert feats[name].grad is not None and feats[name].grad.abs().sum() > 0, name
    assert feats["p6"].grad is None


def test_center_head_predicts_two_offset_channels_with_gradients():
    head = CenterHead(16, 8)
    out = head(pyramid())
    assert out.shape == (2, 2, H // 4, W // 4)
    out.abs().mean().backward()
    assert_all_grads(head)


def test_fcos_head_shapes_scales_and_gradients():
    head = FCOSHead(16, num_classes=3, num_convs=2)
    feats = pyramid()
    cls, box, ctr = head([feats[n] for n in DETECTION_LEVELS])
    for c, b, t, s in zip(cls, box, ctr, (8, 16, 32, 64, 128)):
        assert c.shape == (2, 3, H // s, W // s)
        assert b.shape == (2, 4, H // s, W // s)
        assert t.shape == (2, 1, H // s, W // s)
        assert (b >= 0).all()  # distances
    # focal-loss prior: initial class probability ~0.01
    assert torch.allclose(torch.sigmoid(cls[0]).mean(), torch.tensor(0.01), atol=2e-3)
    (sum(c.mean() for c in cls) + sum(b.mean() for b in box) + sum(t.mean() for t in ctr)).backward()
    assert len(head.scales) == 5
    assert_all_grads(head)


def test_fcos_head_needs_a_thing_class():
    with pytest.raises(ValueError, match="at least one thing"):
        FCOSHead(16, num_classes=0)


@pytest.mark.parametrize("channels,groups", [(256, 32), (64, 16), (32, 8), (24, 6), (8, 2)])
def test_group_norm_keeps_several_channels_per_group(channels, groups):
    gn = group_norm(channels)
    assert gn.num_groups == groups
    # a 1x1 map (p7 of a small input) must still normalise in training mode
    gn.train()
    assert gn(torch.randn(1, channels, 1, 1)).shape == (1, channels, 1, 1)
