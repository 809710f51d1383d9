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


def reference_stq(frames, num_classes, things):
    """A direct per-pixel re-statement of the STEP reference (labels (class, instance), crowd = instance 0), for
    predictions without void pixels: returns (AQ, mIoU)."""
    from collections import defaultdict
    conf = np.zeros((num_classes, num_classes))
    gt_area, pred_area, inter = defaultdict(int), defaultdict(int), defaultdict(int)
    for gt, pred in frames:               # each a list of ((class or None for void), instance) per pixel
        for (gc, gi), (pc, pi) in zip(gt, pred):
            if gc is not None:
                conf[gc, pc] += 1
            crowd = gc in things and gi == 0
            g_ok = gc in things and not crowd
            p_ok = pc in things and not crowd
            if g_ok:
                gt_area[(gc, gi)] += 1
            if p_ok:
                pred_area[(pc, pi)] += 1
            if g_ok and p_ok:
                inter[((gc, gi), (pc, pi))] += 1
    aq = sum(sum(t * t / (gt_area[g] + pred_area[p] - t) for (g2, p), t in inter.items() if g2 == g) / a
             for g, a in gt_area.items()) / max(len(gt_area), 1)
    tp = np.diag(conf)
    union = conf.sum(0) + conf.sum(1) - tp
    return aq, float(np.mean(tp[union > 0] / union[union > 0]))


@pytest.mark.parametrize("seed", range(4))
def test_matches_a_per_pixel_restatement_of_the_reference(seed):
    rng = np.random.default_rng(seed)
    cats = CategoryMap([Category(1, "car", True), Category(2, "person", True), Category(3, "road", False),
                        Category(4, "sky", False)])
    ev = STQEvaluator(cats)
    frames = []
    for _ in range(3):
        def random_frame(void, crowd):
            ids = rng.integers(1, 9, (6, 8)).astype(np.int32)
            if void:
                ids[rng.random((6, 8)) < 0.1] = 0
            segs, labels = [], []
            for i in range(1, 9):
                cat = [1, 1, 2, 2, 1, 2, 3, 4][i - 1]
                is_crowd = int(crowd and i == 5)
                segs.append({"id": 100 + i, "category_id": cat, "iscrowd": is_crowd, "track_id": i})
            lab = {0: (None, 0)} | {i: (cats.index(s["category_id"]), 0 if s["iscrowd"] else i)
                                    for i, s in zip(range(1, 9), segs)}
            labels = [lab[int(v)] for v in ids.ravel()]
            return np.where(ids > 0, ids + 100, 0), segs, labels
        gt_pan, gt_segs, gt_lab = random_frame(True, True)
        pred_pan, pred_segs, pred_lab = random_frame(False, False)
        for s in pred_segs:
            s.pop("track_id")
        ev.add(gt_pan, gt_segs, pred_pan, pred_segs)
        frames.append((gt_lab, [(c, i) for c, i in pred_lab]))
    aq, miou = reference_stq(frames, len(cats), things={0, 1})
    m = ev.summarize()
    assert m["aq"] == pytest.approx(aq) and m["sq"] == pytest.approx(miou)
    assert m["stq"] == pytest.approx(math.sqrt(aq * miou))


def test_the_identity_metrics_get_each_frames_thing_iou_and_stamp(monkeypatch):
    """What STQEvaluator hands to the identity metrics (IDF1, HOTA, returns): the ground-truth thing tracks (by
    category and track_id, so an id that changes per frame is still one object; crowd regions left out) and the
    predicted things of the frame, their mask IoU (0 across classes; the void pixel counts in the union), and the
    stamp (frame index / DEFAULT_FPS without one)."""
    from panoptic_ros.evaluation import stq as stq_module
    ev = STQEvaluator(CATS)
    seen = []
    real = ev.identity.add
    monkeypatch.setattr(ev.identity, "add", lambda *a: (seen.append(a), real(*a))[1])
    gt_segs = [{"id": A, "category_id": CAR, "track_id": 7}, {"id": B, "category_id": CAR, "track_id": 8},
               {"id": R, "category_id": ROAD}, {"id": C, "category_id": CAR, "iscrowd": 1}]
    pred_segs = [{"id": 1, "category_id": CAR}, {"id": 2, "category_id": CAR}, {"id": 5, "category_id": ROAD}]
    gt = np.array([[A, A, A, A, B, B, R, C, 0]], np.int32)
    pred = np.array([[1, 1, 1, 2, 2, 2, 2, 5, 1]], np.int32)
    ev.add(gt, gt_segs, pred, pred_segs, sequence="s")
    ev.add(np.where(gt > 0, gt + 100, 0), [dict(s, id=s["id"] + 100) for s in gt_segs], pred, pred_segs,
           sequence="s", stamp=4.5)
    ev.add(gt, gt_segs, pred, pred_segs, sequence="s")
    (seq0, t0, gts0, preds0, iou0), (_, t1, gts1, _, iou1), (_, t2, *_) = seen
    assert seq0 == "s" and t0 == 0.0 and t1 == 4.5 and t2 == pytest.approx(2 / stq_module.DEFAULT_FPS)
    assert gts0 == [(CAR, 7), (CAR, 8)] and gts1 == gts0              # track_id, not the per-frame id
    assert preds0 == [(CAR, 1), (CAR, 2)]
    # A: 4 px, p1: 4 px (3 on A, 1 on void), inter 3 -> 3 / 5; A with p2: 1 / (4 + 4 - 1); B: 2 px,
    # p2: 4 px (1 on A, 2 on B, 1 on road) -> 2 / 4; B with p1: 0
    np.testing.assert_allclose(iou0, [[3 / 5, 1 / 7], [0.0, 2 / 4]])
    np.testing.assert_allclose(iou1, iou0)
    m = ev.summarize()
    s = m["per_sequence"]["s"]
    assert s["frames"] == 3 and s["tracks"] == 2 and s["id_switches"] == 0


def test_a_class_mismatch_is_iou_zero_for_the_identity_metrics(monkeypatch):
    other = CategoryMap([Category(CAR, "car", True), Category(3, "bus", True), Category(ROAD, "road", False)])
    ev = STQEvaluator(other)
    seen = []
    monkeypatch.setattr(ev.identity, "add", lambda *a: seen.append(a))
    ev.add(np.array([[A, A]], np.int32), [{"id": A, "category_id": CAR}],
           np.array([[1, 1]], np.int32), [{"id": 1, "category_id": 3}])
    np.testing.assert_allclose(seen[0][4], [[0.0]])


def test_sq_sums_the_confusion_of_every_sequence():
    """Road in two sequences: 1 of its 2 pixels right in the first (and one car pixel called road), both in the
    second: the pooled confusion gives 3 right of 4 ground-truth and 4 predicted road pixels, 3 / 5 (the last
    sequence's alone would give 1)."""
    ev = STQEvaluator(CATS)
    ev.add(np.array([[R, R, A]], np.int32), [{"id": R, "category_id": ROAD}, {"id": A, "category_id": CAR}],
           np.array([[5, 1, 5]], np.int32), [{"id": 5, "category_id": ROAD}, {"id": 1, "category_id": CAR}],
           sequence=1)
    ev.add(np.array([[R, R]], np.int32), [{"id": R, "category_id": ROAD}],
           np.array([[5, 5]], np.int32), [{"id": 5, "category_id": ROAD}], sequence=2)
    assert ev.summarize()["per_class_iou"]["road"] == pytest.approx(3 / 5)


def test_compact_indices_of_listed_ids_and_zero_for_the_rest():
    from panoptic_ros.evaluation.stq import _compact
    ids = np.array([[0, 40, 7, 99, 12, 5, 40]])
    assert _compact(ids, [40, 7, 12]).tolist() == [[0, 1, 2, 0, 3, 0, 1]]     # 99 above, 5 below: not listed
    assert _compact(ids, []).tolist() == [[0] * 7]


def test_a_class_seen_in_one_pixel_counts_in_the_mean_iou():
    from panoptic_ros.evaluation.stq import _miou
    confusion = np.zeros((3, 3))
    confusion[0, 0] = 3                     # class 0: 3 of 3 right
    confusion[1, 2] = 1                     # class 1: one pixel, predicted void: IoU 0, still counted
    assert _miou(confusion, 2) == (0.5, {0: 1.0, 1: 0.0})
    assert _miou(np.zeros((3, 3)), 2) == (0.0, {})


def test_a_one_pixel_object_on_its_one_pixel_prediction_has_iou_one(monkeypatch):
    ev = STQEvaluator(CATS)
    seen = []
    monkeypatch.setattr(ev.identity, "add", lambda *a: seen.append(a))
    ev.add(np.array([[R, A]], np.int32), [{"id": R, "category_id": ROAD}, {"id": A, "category_id": CAR}],
           np.array([[5, 1]], np.int32), [{"id": 5, "category_id": ROAD}, {"id": 1, "category_id": CAR}])
    np.testing.assert_allclose(seen[0][4], [[1.0]])
