"""Semantic mIoU from the confusion matrix, on hand-computed cases."""
import numpy as np
import pytest
import torch

from panoptic_ros.data.categories import Category, CategoryMap
from panoptic_ros.evaluation.semantic import SemanticEvaluator


def test_miou_by_hand_with_ignore_and_absent_class():
    gt = np.array([[0, 0, 1, 1], [255, 255, 1, 1]])
    pred = np.array([[0, 1, 1, 1], [2, 2, 1, 0]])
    ev = SemanticEvaluator(4)
    ev.add(torch.from_numpy(pred), torch.from_numpy(gt))
    r = ev.summarize()
    # class 0: tp 1, gt 2, pred 2 -> 1/3; class 1: tp 3, gt 4, pred 4 -> 3/5; class 2: never in gt, predicted
    # only on ignored pixels -> absent; class 3: absent
    assert r["per_class_iou"] == {"0": pytest.approx(1 / 3), "1": pytest.approx(3 / 5), "2": None, "3": None}
    assert r["miou"] == pytest.approx((1 / 3 + 3 / 5) / 2)
    assert r["pixel_accuracy"] == pytest.approx(4 / 6)


def test_accumulates_over_images_and_keys_by_category_id():
    cats = CategoryMap([Category(7, "a", True), Category(9, "b", False)])
    ev = SemanticEvaluator(cats)
    ev.add(np.zeros((2, 2), int), np.zeros((2, 2), int))
    ev.add(np.zeros((2, 2), int), np.ones((2, 2), int))
    r = ev.summarize()
    assert r["per_class_iou"] == {"7": pytest.approx(0.5), "9": 0.0}
    assert r["miou"] == pytest.approx(0.25)


def test_unknown_prediction_counts_as_wrong_and_bad_input_is_rejected():
    ev = SemanticEvaluator(2)
    ev.add(np.array([[255, 1]]), np.array([[0, 1]]))
    assert ev.summarize()["per_class_iou"]["0"] == 0.0
    with pytest.raises(ValueError, match="prediction is"):
        ev.add(np.zeros((2, 2), int), np.zeros((3, 2), int))
    with pytest.raises(ValueError, match="predicted class indices"):
        ev.add(np.array([[5]]), np.array([[0]]))
