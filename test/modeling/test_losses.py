"""Loss functions: normalisation, ignore handling, empty cases."""
import pytest
import torch
from torchvision.ops import sigmoid_focal_loss

from panoptic_ros.modeling import detection_head as det
from panoptic_ros.modeling.losses import detection_losses, offset_loss, semantic_loss


def _setup(ignore=None):
    locs = det.compute_locations([(8, 8)], (8,))
    points, strides, ranges = det.level_tensors(locs, (8,), ((0.0, float("inf")),))
    box = torch.tensor([[8.0, 8.0, 40.0, 32.0]])
    target = det.fcos_targets(points, strides, ranges, box, torch.tensor([1]), ignore=ignore)
    return points, target


def test_focal_loss_is_normalised_by_positives_and_skips_ignored():
    points, target = _setup()
    num_pos = int((target["labels"] >= 0).sum())
    assert num_pos == 6
    cls = torch.randn(1, 64, 2)
    box = torch.rand(1, 64, 4) * 10
    ctr = torch.randn(1, 64)
    out = detection_losses(cls, box, ctr, points, [target])
    onehot = torch.zeros(64, 2)
    onehot[target["labels"] >= 0, 1] = 1
    expected = sigmoid_focal_loss(cls[0], onehot, alpha=0.25, gamma=2.0, reduction="sum") / num_pos
    assert out["loss_cls"].item() == pytest.approx(expected.item(), rel=1e-5)

    ignore = torch.zeros(64, dtype=torch.bool)
    ignore[:8] = True   # first row: no positives there
    _, ignored = _setup(ignore)
    cls2 = cls.clone()
    cls2[0, :8] = 50.0  # confident false positives in the ignored row change nothing
    a = detection_losses(cls, box, ctr, points, [ignored])["loss_cls"]
    b = detection_losses(cls2, box, ctr, points, [ignored])["loss_cls"]
    assert a.item() == pytest.approx(b.item())
    c = detection_losses(cls2, box, ctr, points, [target])["loss_cls"]
    assert c > a + 1


def test_box_loss_is_zero_for_perfect_boxes_and_centerness_weighted():
    points, target = _setup()
    box = target["ltrb"][None].clone()                      # exact distances
    out = detection_losses(torch.zeros(1, 64, 2), box, torch.zeros(1, 64), points, [target])
    assert out["loss_box"].item() == pytest.approx(0.0, abs=1e-5)
    worse = box.clone()
    worse[0, target["labels"] >= 0] *= 0.5
    assert detection_losses(torch.zeros(1, 64, 2), worse, torch.zeros(1, 64), points, [target])["loss_box"] > 0.1


def test_no_positives_gives_finite_zero_losses_with_graph():
    points, strides, ranges = det.level_tensors(det.compute_locations([(8, 8)], (8,)), (8,), ((0.0, 64.0),))
    empty = det.fcos_targets(points, strides, ranges, torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64))
    box = torch.rand(1, 64, 4, requires_grad=True)
    ctr = torch.randn(1, 64, requires_grad=True)
    cls = torch.randn(1, 64, 2, requires_grad=True)
    out = detection_losses(cls, box, ctr, points, [empty])
    assert out["loss_box"].item() == 0 and out["loss_ctr"].item() == 0 and out["loss_cls"] > 0
    sum(out.values()).backward()
    assert box.grad is not None and torch.isfinite(cls.grad).all()


def test_semantic_loss_ignores_255_and_survives_all_ignored():
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    target = torch.full((1, 4, 4), 255)
    target[0, 0, :2] = torch.tensor([0, 2])
    expected = torch.nn.functional.cross_entropy(logits[0, :, 0, :2].t(), torch.tensor([0, 2]))
    assert semantic_loss(logits, target).item() == pytest.approx(expected.item(), rel=1e-5)
    none = semantic_loss(logits, torch.full((1, 4, 4), 255))
    assert none.item() == 0.0
    none.backward()
    assert torch.isfinite(logits.grad).all()


def test_offset_loss_only_on_weighted_pixels():
    pred = torch.zeros(1, 2, 2, 2)
    target = torch.tensor([[[[3.0, 100.0], [0.0, 0.0]], [[-4.0, 100.0], [0.0, 0.0]]]])
    weight = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    # pixel (0,0): |3| + |-4| = 7, pixel (1,0): 0 -> mean 3.5 ; the 100s are unweighted
    assert offset_loss(pred, target, weight).item() == pytest.approx(3.5)
    assert offset_loss(pred, target, torch.zeros(1, 2, 2)).item() == 0.0
