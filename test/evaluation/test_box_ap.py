"""Box AP through pycocotools COCOeval, with in-memory boxes."""
import pytest
import torch

from panoptic_ros.data.categories import Category, CategoryMap
from panoptic_ros.evaluation.box_ap import BoxAPEvaluator

CATS = CategoryMap([Category(3, "disc", True), Category(4, "box", True), Category(9, "sky", False)])


def test_perfect_detections_give_ap_one_and_nothing_is_printed(capsys):
    ev = BoxAPEvaluator(CATS)
    boxes = torch.tensor([[10.0, 10, 60, 50], [100, 20, 180, 120]])
    ev.add("a", boxes, torch.tensor([0, 1]), boxes, torch.tensor([0.9, 0.8]), torch.tensor([0, 1]),
           height=200, width=200)
    r = ev.summarize()
    assert r["AP"] == pytest.approx(1.0) and r["AP50"] == pytest.approx(1.0) and r["AP75"] == pytest.approx(1.0)
    assert capsys.readouterr().out == ""


def test_wrong_class_and_poor_localisation_lower_ap():
    ev = BoxAPEvaluator(CATS)
    gt = torch.tensor([[0.0, 0, 100, 100], [200, 200, 300, 300]])
    det = torch.tensor([[0.0, 0, 100, 60], [200, 200, 300, 300]])   # first: IoU 0.6
    ev.add(1, gt, [0, 0], det, [0.9, 0.8], [0, 1])                      # second: wrong class
    r = ev.summarize()
    # class 0: one TP at IoU .6 out of two gt at AP50 -> recall .5; class 1 has no gt (left out)
    assert r["AP50"] == pytest.approx(0.5, abs=0.01)
    assert r["AP75"] == pytest.approx(0.0)
    assert 0.0 < r["AP"] < r["AP50"]


def test_crowd_ground_truth_absorbs_detections():
    segments = [{"id": 1, "category_id": 3, "iscrowd": 1, "bbox": [0, 0, 100, 100], "area": 10000},
                {"id": 2, "category_id": 3, "iscrowd": 0, "bbox": [200, 200, 50, 50], "area": 2500},
                {"id": 3, "category_id": 9, "iscrowd": 0, "bbox": [0, 0, 300, 300], "area": 1000}]
    det = [[10.0, 10, 50, 50], [200, 200, 250, 250]]
    ev = BoxAPEvaluator(CATS)
    ev.add_segments(1, segments, det, [0.95, 0.5], [0, 0])
    assert ev.summarize()["AP50"] == pytest.approx(1.0)   # the detection on the crowd is not a false positive
    ev2 = BoxAPEvaluator(CATS)
    ev2.add_segments(1, [dict(s, iscrowd=0) if s["id"] == 1 else s for s in segments], [det[1]], [0.5], [0])
    assert ev2.summarize()["AP50"] == pytest.approx(0.5, abs=0.01)


def test_no_detections_is_zero_not_a_crash():
    ev = BoxAPEvaluator(CATS)
    ev.add(1, [[0.0, 0, 10, 10]], [0], [], [], [])
    r = ev.summarize()
    assert r["AP"] == 0.0 and r["num_detections"] == 0 and r["num_gt"] == 1


def test_label_out_of_range_is_an_error():
    ev = BoxAPEvaluator(CATS)
    with pytest.raises(ValueError, match="not a channel index"):
        ev.add(1, [[0.0, 0, 10, 10]], [7], [], [], [])


def test_ground_truth_without_bbox_takes_the_tight_box_of_its_pixels():
    import numpy as np

    id_map = np.zeros((100, 120), np.int32)
    id_map[10:50, 20:70] = 7           # the thing: box x 20..70, y 10..50
    id_map[60:, :] = 8                 # stuff
    segments = [{"id": 7, "category_id": 3}, {"id": 8, "category_id": 9}]
    det = torch.tensor([[20.0, 10, 70, 50]])
    ev = BoxAPEvaluator(CATS)
    ev.add_segments("a", segments, det, torch.tensor([0.9]), torch.tensor([0]), height=100, width=120, id_map=id_map)
    assert ev.summarize()["AP75"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="segment 7 has no 'bbox'"):
        BoxAPEvaluator(CATS).add_segments("b", segments, det, torch.tensor([0.9]), torch.tensor([0]))
