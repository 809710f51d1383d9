"""STQ (AQ x SQ as the STEP reference), ID switches and id keeping, on hand-built sequences computed by hand."""
import math

import numpy as np
import pytest

from panoptic_ros.data.categories import Category, CategoryMap
from panoptic_ros.evaluation.stq import STQEvaluator, STQInputError

CAR, ROAD = 1, 2
CATS = CategoryMap([Category(CAR, "car", True), Category(ROAD, "road", False)])


def frame(ids, segs):
    """A 1xN map and its segments: segs = {id: (category, iscrowd)}; ground truth track_id = id."""
    return (np.array([ids], dtype=np.int32),
            [{"id": i, "category_id": c, "iscrowd": crowd} for i, (c, crowd) in segs.items()])


R, A, B, C = 9, 11, 12, 13          # ground-truth ids: road, car tracks A and B, a crowd car region C


def test_stq_of_two_frames_by_hand():
    ev = STQEvaluator(CATS)
    gt_segs = {R: (ROAD, 0), A: (CAR, 0), B: (CAR, 0), C: (CAR, 1)}
    pred_segs = {5: (ROAD, 0), 1: (CAR, 0), 2: (CAR, 0)}
    ev.add(*frame([R, A, A, B, B, 0], gt_segs), *frame([5, 1, 1, 2, 2, 2], pred_segs))
    ev.add(*frame([R, R, A, A, B, C], gt_segs), *frame([0, 5, 1, 2, 2, 2], pred_segs))
    m = ev.summarize()
    # |A| = 4, |B| = 3 (crowd excluded); |p1| = 3, |p2| = 5 (its void pixel counts, its crowd pixel does not)
    # A: p1 TPA 3 -> 3 * 3/(3+0+1); p2 TPA 1 -> 1 * 1/(1+4+3)    B: p2 TPA 3 -> 3 * 3/(3+2+0)
    aq_a = (3 * 3 / 4 + 1 * 1 / 8) / 4
    aq_b = (3 * 3 / 5) / 3
    aq = (aq_a + aq_b) / 2
    # car IoU 8/8 (the crowd pixel is a car pixel for the semantics; the void pixel is skipped),
    # road: ground truth 3 pixels, predicted 2 of them, predicted void on the third -> 2/3
    sq = (1 + 2 / 3) / 2
    assert m["aq"] == pytest.approx(aq) and m["sq"] == pytest.approx(sq)
    assert m["stq"] == pytest.approx(math.sqrt(aq * sq))
    assert m["per_class_iou"] == pytest.approx({"car": 1.0, "road": 2 / 3})
    assert m["tracks"] == 2 and m["frames"] == 2


def test_tracking_beats_renumbering():
    """The same segmentation with a kept id (AQ 1) and with a new id every frame (AQ 1/2)."""
    gt_segs = {R: (ROAD, 0), A: (CAR, 0)}
    tracked, renumbered = STQEvaluator(CATS), STQEvaluator(CATS)
    for t, (gt, pred) in enumerate([([R, A, A, R], [5, 1, 1, 5]), ([R, R, A, A], [5, 5, 1, 1])]):
        tracked.add(*frame(gt, gt_segs), *frame(pred, {5: (ROAD, 0), 1: (CAR, 0)}))
        other = [v if v != 1 else 1 + t for v in pred]
        renumbered.add(*frame(gt, gt_segs), *frame(other, {5: (ROAD, 0), 1 + t: (CAR, 0)}))
    a, b = tracked.summarize(), renumbered.summarize()
    assert a["aq"] == pytest.approx(1.0) and a["stq"] == pytest.approx(1.0)
    # each predicted id holds half of A: 2 x (2 x 2/4) / 4
    assert b["aq"] == pytest.approx(0.5) and b["stq"] == pytest.approx(math.sqrt(0.5))
    assert a["id_switches"] == 0 and b["id_switches"] == 1
    assert a["id_keep"]["fraction"] == 1.0 and b["id_keep"] == {"kept": 0, "pairs": 1, "fraction": 0.0}


def test_id_switches_and_keep_rate():
    gt_segs = {R: (ROAD, 0), A: (CAR, 0), B: (CAR, 0)}
    pred_segs = {5: (ROAD, 0), 1: (CAR, 0), 2: (CAR, 0)}
    ev = STQEvaluator(CATS)
    ev.add(*frame([R, A, A, B, B], gt_segs), *frame([5, 1, 1, 2, 2], pred_segs))
    ev.add(*frame([R, A, A, B, B], gt_segs), *frame([5, 1, 1, 2, 2], pred_segs))
    ev.add(*frame([R, A, A, B, B], gt_segs), *frame([5, 2, 2, 1, 1], pred_segs))   # both swap
    ev.add(*frame([R, A, A, B, B], gt_segs), *frame([5, 2, 0, 0, 0], pred_segs))   # A: IoU 1/2, no match
    ev.add(*frame([R, A, A, B, B], gt_segs), *frame([5, 1, 1, 2, 2], pred_segs))   # both swap back
    m = ev.summarize()
    assert m["id_switches"] == 4
    assert m["id_switches_per_100"] == pytest.approx(100 * 4 / 5)
    assert m["id_keep"] == {"kept": 2, "pairs": 4, "fraction": 0.5}  # f0-f1 kept, f1-f2 switched, no pairs after


def test_class_change_is_another_predicted_object_and_sequences_are_separate():
    gt_segs = {R: (ROAD, 0), A: (CAR, 0)}
    ev = STQEvaluator(CATS)
    ev.add(*frame([R, A, A], gt_segs), *frame([5, 1, 1], {5: (ROAD, 0), 1: (CAR, 0)}), sequence="a")
    ev.add(*frame([R, A, A], gt_segs), *frame([5, 1, 1], {5: (ROAD, 0), 1: (CAR, 0)}), sequence="b")
    m = ev.summarize()
    assert m["tracks"] == 2 and set(m["per_sequence"]) == {"a", "b"} and m["aq"] == pytest.approx(1.0)
    ev.add(*frame([R, A, A], gt_segs), *frame([5, 1, 1], {5: (ROAD, 0), 1: (ROAD, 0)}), sequence="a")
    m = ev.summarize()
    # sequence a: |A| = 4, the car prediction holds 2 of them: 2 x 2/4 / 4
    assert m["per_sequence"]["a"]["aq"] == pytest.approx(0.25)
    assert m["aq"] == pytest.approx((0.25 + 1.0) / 2)


def test_bad_input_names_the_frame():
    ev = STQEvaluator(CATS)
    with pytest.raises(STQInputError, match="frame 0: prediction is 3x1"):
        ev.add(*frame([R, A], {R: (ROAD, 0), A: (CAR, 0)}), *frame([5, 5, 5], {5: (ROAD, 0)}))
    with pytest.raises(STQInputError, match="unknown category 7"):
        ev.add(*frame([R], {R: (7, 0)}), *frame([5], {5: (ROAD, 0)}))
