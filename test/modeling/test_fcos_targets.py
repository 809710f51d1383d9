"""FCOS target encoding and decoding on hand-made boxes (values worked out by hand in the comments)."""
import math

import pytest
import torch

from panoptic_ros.modeling import detection_head as det


def single_level(size=64, stride=8, rng=(0.0, math.inf)):
    locs = det.compute_locations([(size // stride, size // stride)], (stride,))
    return det.level_tensors(locs, (stride,), (rng,))


def index_of(points, x, y):
    hits = ((points[:, 0] == x) & (points[:, 1] == y)).nonzero()
    assert len(hits) == 1, (x, y)
    return int(hits[0])


def test_locations_are_pixel_centers_of_each_cell_row_major():
    (p3, p4) = det.compute_locations([(2, 3), (1, 2)], (8, 16))
    assert p3.tolist() == [[4, 4], [12, 4], [20, 4], [4, 12], [12, 12], [20, 12]]
    assert p4.tolist() == [[8, 8], [24, 8]]


def test_ltrb_and_centerness_of_a_box():
    box = torch.tensor([[8.0, 8.0, 40.0, 32.0]])
    ltrb = det.ltrb_targets(torch.tensor([[20.0, 20.0], [12.0, 12.0], [4.0, 4.0]]), box)[:, 0]
    assert ltrb.tolist() == [[12, 12, 20, 12], [4, 4, 28, 20], [-4, -4, 36, 28]]
    ctr = det.centerness_targets(ltrb)
    # sqrt(min(l,r)/max(l,r) * min(t,b)/max(t,b))
    assert ctr[0].item() == pytest.approx(math.sqrt(12 / 20 * 12 / 12))
    assert ctr[1].item() == pytest.approx(math.sqrt(4 / 28 * 4 / 20))
    assert ctr[2].item() == 0.0  # outside the box
    # the exact box center has centerness 1
    assert det.centerness_targets(det.ltrb_targets(torch.tensor([[24.0, 20.0]]), box)[:, 0]).item() == pytest.approx(1)


def test_assignment_inside_box_and_center_sampling():
    points, strides, ranges = single_level()
    box = torch.tensor([[8.0, 8.0, 40.0, 32.0]])  # center (24, 20); radius 1.5 * 8 = 12
    t = det.fcos_targets(points, strides, ranges, box, torch.tensor([1]))
    positive = {tuple(points[i].tolist()) for i in (t["labels"] >= 0).nonzero()[:, 0].tolist()}
    # x in {20, 28} (|x - 24| < 12 and inside 8..40 ; 12 and 36 are exactly 12 away), y in {12, 20, 28}
    assert positive == {(x, y) for x in (20.0, 28.0) for y in (12.0, 20.0, 28.0)}
    i = index_of(points, 20, 20)
    assert t["labels"][i] == 1 and t["matched"][i] == 0
    assert t["ltrb"][i].tolist() == [12, 12, 20, 12]
    assert t["boxes"][i].tolist() == [8, 8, 40, 32]
    assert t["centerness"][i].item() == pytest.approx(math.sqrt(0.6))
    j = index_of(points, 12, 12)  # inside the box but outside the center region
    assert t["labels"][j] == det.BACKGROUND and t["matched"][j] == -1 and t["centerness"][j] == 0
    assert (t["labels"] == det.BACKGROUND).sum() == len(points) - 6


def test_each_level_takes_its_object_sizes():
    locs = det.compute_locations([(24, 24), (12, 12)], (8, 16))
    points, strides, ranges = det.level_tensors(locs, (8, 16), ((0.0, 64.0), (64.0, math.inf)))
    n3 = len(locs[0])
    boxes = torch.tensor([[16.0, 16.0, 176.0, 176.0],   # max(l,t,r,b) near its center ~ 80-88 > 64: p4
                          [40.0, 40.0, 56.0, 56.0]])    # max side 12 <= 64: p3
    t = det.fcos_targets(points, strides, ranges, boxes, torch.tensor([0, 1]))
    big = (t["matched"] == 0).nonzero()[:, 0]
    small = (t["matched"] == 1).nonzero()[:, 0]
    assert len(big) > 0 and (big >= n3).all()
    assert len(small) > 0 and (small < n3).all()
    assert (t["ltrb"][big].max(dim=1).values > 64).all()


def test_overlapping_boxes_go_to_the_smallest():
    points, strides, ranges = single_level()
    boxes = torch.tensor([[0.0, 0.0, 64.0, 64.0], [16.0, 16.0, 48.0, 48.0]])
    t = det.fcos_targets(points, strides, ranges, boxes, torch.tensor([0, 1]))
    i = index_of(points, 28, 28)
    assert t["matched"][i] == 1 and t["labels"][i] == 1
    assert t["ltrb"][i].tolist() == [12, 12, 20, 20]


def test_ignore_regions_only_affect_unassigned_locations():
    points, strides, ranges = single_level()
    box = torch.tensor([[8.0, 8.0, 40.0, 32.0]])
    ignore = points[:, 0] < 32  # left half of the image
    t = det.fcos_targets(points, strides, ranges, box, torch.tensor([1]), ignore=ignore)
    assert t["labels"][index_of(points, 20, 20)] == 1          # positive stays positive
    assert t["labels"][index_of(points, 4, 60)] == det.IGNORED_LOCATION   # unassigned, ignored
    assert t["labels"][index_of(points, 60, 60)] == det.BACKGROUND
    assert (t["labels"] == det.IGNORED_LOCATION).sum() == 32 - 6          # left half minus its 6 positives

    empty = det.fcos_targets(points, strides, ranges, torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64),
                             ignore=ignore)
    assert (empty["labels"] == det.IGNORED_LOCATION).sum() == 32 and (empty["labels"] == det.BACKGROUND).sum() == 32
    assert empty["centerness"].sum() == 0


def _raw(num_classes=2, size=128):
    shapes = [(size // s, size // s) for s in det.DETECTION_STRIDES]
    cls = [torch.full((1, num_classes, h, w), -10.0) for h, w in shapes]
    box = [torch.zeros(1, 4, h, w) for h, w in shapes]
    ctr = [torch.full((1, 1, h, w), 10.0) for h, w in shapes]
    return cls, box, ctr


def test_postprocess_decodes_thresholds_and_suppresses():
    cls, box, ctr = _raw()
    cls[0][0, 1, 2, 3] = 10.0                                     # location (28, 20), class 1, score ~1
    box[0][0, :, 2, 3] = torch.tensor([4.0, 6.0, 10.0, 12.0])     # -> box (24, 14, 38, 32)
    cls[0][0, 1, 2, 4] = 3.0                                      # location (36, 20): same box, lower score
    box[0][0, :, 2, 4] = torch.tensor([12.0, 6.0, 2.0, 12.0])
    cls[0][0, 0, 2, 4] = 3.0                                      # same box, other class: kept
    cls[1][0, 1, 5, 5] = -1.0                                     # score sqrt(0.27) ~ 0.52 (p4, (88, 88))
    box[1][0, :, 5, 5] = torch.tensor([8.0, 8.0, 60.0, 8.0])      # runs past the 100-px input: clipped
    cls[2][0, 0, 1, 1] = -3.0                                     # score ~0.22 < 0.4: dropped
    box[2][0, :, 1, 1] = 5.0
    (d,) = det.postprocess_detections(cls, box, ctr, [(100, 100)], score_threshold=0.4, nms_threshold=0.6,
                                      pre_nms_top_k=1000, max_detections=100)
    assert d["labels"].tolist() == [1, 0, 1]
    assert d["boxes"][0].tolist() == [24, 14, 38, 32]
    assert d["boxes"][1].tolist() == [24, 14, 38, 32]
    assert d["boxes"][2].tolist() == [80, 80, 100, 96]
    assert d["scores"][0] > d["scores"][1] > d["scores"][2] > 0.4
    assert d["scores"][2].item() == pytest.approx(math.sqrt(torch.sigmoid(torch.tensor(-1.0)).item()), abs=1e-4)

    (top1,) = det.postprocess_detections(cls, box, ctr, [(100, 100)], score_threshold=0.4, nms_threshold=0.6,
                                         pre_nms_top_k=1000, max_detections=1)
    assert top1["labels"].tolist() == [1] and top1["boxes"][0].tolist() == [24, 14, 38, 32]
    (strict,) = det.postprocess_detections(cls, box, ctr, [(100, 100)], score_threshold=0.99, nms_threshold=0.6,
                                           pre_nms_top_k=1000, max_detections=100)
    assert len(strict["boxes"]) == 1


def test_postprocess_with_nothing_above_threshold_is_empty():
    cls, box, ctr = _raw()
    (d,) = det.postprocess_detections(cls, box, ctr, [(128, 128)], score_threshold=0.4, nms_threshold=0.6,
                                      pre_nms_top_k=10, max_detections=10)
    assert d["boxes"].shape == (0, 4) and d["scores"].shape == (0,) and d["labels"].shape == (0,)


@pytest.mark.parametrize("threshold", [0.0, 0.05, 0.4, 0.9, 1.0])
def test_decoding_keeps_exactly_the_candidates_above_the_score_threshold(threshold):
    """The logit pre-filter changes nothing: same boxes, scores and labels as scoring every class everywhere."""
    from torchvision.ops import batched_nms, clip_boxes_to_image, remove_small_boxes

    gen = torch.Generator().manual_seed(3)
    shapes = [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    cls = [torch.randn(1, 5, *s, generator=gen) * 3 for s in shapes]
    box = [torch.rand(1, 4, *s, generator=gen) * 40 for s in shapes]
    ctr = [torch.randn(1, 1, *s, generator=gen) * 3 for s in shapes]
    (got,) = det.postprocess_detections(cls, box, ctr, [(128, 128)], score_threshold=threshold, nms_threshold=0.6,
                                        pre_nms_top_k=50, max_detections=1000)
    # reference: score everything, as FCOS does
    locations = det.compute_locations(shapes, device="cpu")
    all_boxes, all_scores, all_labels = [], [], []
    for c, b, t, points in zip(cls, box, ctr, locations):
        scores = torch.sqrt(torch.sigmoid(c[0].flatten(1).t()) * torch.sigmoid(t[0].flatten(1).t())).flatten()
        keep = torch.nonzero(scores > threshold).squeeze(1)
        scores = scores[keep]
        if scores.numel() > 50:
            scores, top = scores.topk(50)
            keep = keep[top]
        loc = keep // 5
        all_boxes.append(clip_boxes_to_image(det.decode_boxes(points[loc], b[0].flatten(1).t()[loc]), (128, 128)))
        all_scores.append(scores)
        all_labels.append(keep % 5)
    boxes, scores, labels = torch.cat(all_boxes), torch.cat(all_scores), torch.cat(all_labels)
    valid = remove_small_boxes(boxes, 1e-3)
    boxes, scores, labels = boxes[valid], scores[valid], labels[valid]
    keep = batched_nms(boxes, scores, labels, 0.6)
    assert torch.equal(got["labels"], labels[keep]) and torch.equal(got["boxes"], boxes[keep])
    assert torch.allclose(got["scores"], scores[keep], rtol=1e-6, atol=0)   # sigmoid's SIMD tail: last bit
