"""Hand-built cases of fuse() whose right answer is known from the method's definition."""
import math

import numpy as np
import pytest
import torch

from panoptic_ros.panoptic import MERGE_POLICIES, PanopticResult, fuse, fuse_batch

PERSON, CAR, ROAD, SKY = 0, 1, 2, 3          # channels: two things, two stuff
THINGS = torch.tensor([True, True, False, False])
LOW = -5.0


def make_logits(height, width, **channels):
    """[4, H, W] logits: LOW everywhere, then each named channel set to a constant or an [H, W] map."""
    logits = torch.full((4, height, width), LOW)
    for name, value in channels.items():
        logits[globals()[name.upper()]] = torch.as_tensor(value, dtype=torch.float32)
    return logits


def columns(height, width, split, left, right):
    """[H, W] map: `left` in columns < split, `right` from split on."""
    out = torch.full((height, width), float(right))
    out[:, :split] = left
    return out


def run(logits, boxes, scores, labels, **kwargs):
    kwargs.setdefault("stuff_area_threshold", 0)
    return fuse(logits, torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), torch.tensor(scores),
                torch.tensor(labels, dtype=torch.int64), thing_mask=THINGS, **kwargs)


def owner_of_columns(result, scores):
    """For a result whose ownership only varies along x: per column, the detection index (by its unique
    score) or 'ROAD'/'SKY'/0 for stuff/unknown, read from row 0 (and checked identical on every row)."""
    pan = result.panoptic
    assert torch.equal(pan, pan[:1].expand_as(pan)), "ownership should not vary along y"
    by_id = {}
    for seg in result.segments:
        by_id[seg["id"]] = scores.index(seg["score"]) if seg["isthing"] else ["", "", "ROAD", "SKY"][seg["category_id"]]
    return [by_id.get(int(v), 0) for v in pan[0]]


def det_mask(result, score):
    seg = [s for s in result.segments if s["isthing"] and s["score"] == pytest.approx(score)]
    assert len(seg) <= 1
    return (result.panoptic == seg[0]["id"]) if seg else torch.zeros_like(result.panoptic, dtype=torch.bool)


# ---------------------------------------------------------------------------------------------- inter-class
def test_inter_class_overlap_is_decided_by_logits_not_scores():
    logits = make_logits(10, 20, person=columns(10, 20, 10, 5, 1), car=columns(10, 20, 10, 1, 5), road=0.0)
    # the car is more confident, but in the overlap (columns 8..11) the logits decide
    for policy in MERGE_POLICIES:
        result = run(logits, [[0, 0, 12, 10], [8, 0, 20, 10]], [0.5, 0.9], [PERSON, CAR], policy=policy,
                     center_offsets=torch.zeros(2, 10, 20))
        assert owner_of_columns(result, [0.5, 0.9]) == [0] * 10 + [1] * 10, policy


# ------------------------------------------------------------------------------------------------ policies
def test_highest_confidence_two_boxes():
    logits = make_logits(10, 20, person=5.0, road=0.0)
    result = run(logits, [[0, 0, 12, 10], [8, 0, 20, 10]], [0.6, 0.9], [PERSON, PERSON])
    assert owner_of_columns(result, [0.6, 0.9]) == [0] * 8 + [1] * 12


def test_highest_confidence_equal_scores_lower_index_wins():
    logits = make_logits(10, 20, person=5.0, road=0.0)
    result = run(logits, [[8, 0, 20, 10], [0, 0, 12, 10]], [0.7, 0.7001], [PERSON, PERSON])
    assert owner_of_columns(result, [0.7, 0.7001]) == [1] * 12 + [0] * 8
    result = run(logits, [[8, 0, 20, 10], [0, 0, 12, 10]], [0.7, 0.7], [PERSON, PERSON])
    ids = result.panoptic[0].tolist()
    assert ids[8:12] == [ids[15]] * 4 and ids[0] != ids[15]   # the overlap belongs to detection 0


def test_highest_confidence_three_boxes():
    logits = make_logits(10, 20, person=5.0, road=0.0)
    scores = [0.5, 0.9, 0.7]
    result = run(logits, [[0, 0, 12, 10], [6, 0, 16, 10], [10, 0, 20, 10]], scores, [PERSON] * 3)
    assert owner_of_columns(result, scores) == [0] * 6 + [1] * 10 + [2] * 4


def test_smallest_first_two_boxes_ignores_scores():
    logits = make_logits(10, 20, person=5.0, road=0.0)
    scores = [0.9, 0.1]
    result = run(logits, [[0, 0, 12, 10], [8, 0, 14, 10]], scores, [PERSON, PERSON], policy="smallest_first")
    assert owner_of_columns(result, scores) == [0] * 8 + [1] * 6 + ["ROAD"] * 6


def test_smallest_first_three_nested_boxes():
    logits = make_logits(10, 20, person=5.0, road=0.0)
    scores = [0.9, 0.8, 0.7]            # the larger the more confident: scores must not matter
    result = run(logits, [[0, 0, 20, 10], [4, 0, 16, 10], [8, 0, 12, 10]], scores, [PERSON] * 3,
                 policy="smallest_first")
    assert owner_of_columns(result, scores) == [0] * 4 + [1] * 4 + [2] * 4 + [1] * 4 + [0] * 4


def test_smallest_first_equal_areas_higher_score_wins():
    logits = make_logits(10, 20, person=5.0, road=0.0)
    scores = [0.3, 0.8]
    result = run(logits, [[0, 0, 12, 10], [8, 0, 20, 10]], scores, [PERSON, PERSON], policy="smallest_first")
    assert owner_of_columns(result, scores) == [0] * 8 + [1] * 12


def test_closest_center_cuts_along_the_perpendicular_bisector():
    # centers (30, 20) and (60, 20): bisector x = 45, while the box edges are at x = 20 and x = 60
    logits = make_logits(40, 100, person=5.0, road=0.0)
    scores = [0.5, 0.9]
    result = run(logits, [[0, 0, 60, 40], [20, 0, 100, 40]], scores, [PERSON, PERSON], policy="closest_center",
                 center_offsets=torch.zeros(2, 40, 100))
    assert owner_of_columns(result, scores) == [0] * 45 + [1] * 55


def test_closest_center_diagonal_bisector():
    height, width = 80, 100
    logits = make_logits(height, width, person=5.0, road=0.0)
    boxes = [[0, 0, 60, 60], [20, 20, 100, 80]]
    scores = [0.5, 0.9]
    result = run(logits, boxes, scores, [PERSON, PERSON], policy="closest_center",
                 center_offsets=torch.zeros(2, height, width))
    a, b = det_mask(result, 0.5), det_mask(result, 0.9)
    ca, cb = np.array([30.0, 30.0]), np.array([60.0, 50.0])
    mid, direction = (ca + cb) / 2, cb - ca
    for i in range(20, 60):             # the overlap of the two boxes
        for j in range(20, 60):
            side = np.dot(np.array([j + 0.5, i + 0.5]) - mid, direction)
            # the side of the bisector decides; on it, the higher score (detection 1)
            assert bool(a[i, j]) == (side < 0) and bool(b[i, j]) == (side >= 0), (i, j)
    assert a[20:60, 20:60].any() and b[20:60, 20:60].any()


def test_closest_center_three_boxes():
    logits = make_logits(10, 60, person=5.0, road=0.0)
    scores = [0.9, 0.5, 0.7]
    result = run(logits, [[0, 0, 40, 10], [10, 0, 50, 10], [20, 0, 60, 10]], scores, [PERSON] * 3,
                 policy="closest_center", center_offsets=torch.zeros(2, 10, 60))
    # centers x = 20, 30, 40: cuts at 25 and 35
    assert owner_of_columns(result, scores) == [0] * 25 + [1] * 10 + [2] * 25


def test_closest_center_follows_the_offsets():
    # the true boundary is x = 55 (A in front); offsets point every pixel to its true box center
    height, width = 40, 100
    ys, xs = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing="ij")
    in_a = xs < 55
    cx = torch.where(in_a, 30.0, 60.0)
    offsets = torch.stack([cx - xs, 20.0 - ys])
    logits = make_logits(height, width, person=5.0, road=0.0)
    scores = [0.5, 0.9]
    result = run(logits, [[0, 0, 60, 40], [20, 0, 100, 40]], scores, [PERSON, PERSON], policy="closest_center",
                 center_offsets=offsets)
    assert owner_of_columns(result, scores) == [0] * 55 + [1] * 45


def test_policies_only_act_within_a_class():
    # same geometry, different classes, person logit higher everywhere: person takes the overlap under
    # every policy although the car is smaller, more confident and (with zero offsets) closer
    logits = make_logits(10, 20, person=5.0, car=4.0, road=0.0)
    for policy in MERGE_POLICIES:
        result = run(logits, [[0, 0, 16, 10], [8, 0, 20, 10]], [0.2, 0.9], [PERSON, CAR], policy=policy,
                     center_offsets=torch.zeros(2, 10, 20))
        assert owner_of_columns(result, [0.2, 0.9]) == [0] * 16 + [1] * 4, policy


# ----------------------------------------------------------------------------------- semantics vs boxes
def test_false_detection_that_semantics_disagrees_with_disappears():
    logits = make_logits(10, 20, person=0.0, road=5.0)
    result = run(logits, [[2, 2, 18, 8]], [0.99], [PERSON])
    assert [s["category_id"] for s in result.segments] == [ROAD]
    assert result.segments[0]["area"] == 200 and (result.panoptic == 1).all()


def test_instance_mask_is_the_box_cropped_to_the_class_logits():
    person = torch.zeros(10, 20)
    person[3:7, 5:9] = 5.0               # a 4 x 4 person inside a larger box
    logits = make_logits(10, 20, person=person, road=1.0)
    result = run(logits, [[2, 1, 15, 9]], [0.8], [PERSON])
    seg = [s for s in result.segments if s["isthing"]][0]
    assert seg["bbox"] == [5, 3, 4, 4] and seg["area"] == 16 and seg["category_id"] == PERSON
    assert seg["score"] == pytest.approx(0.8)


@pytest.mark.parametrize("flag", [False, True])
def test_undetected_thing_pixels_go_to_stuff_or_unknown(flag):
    logits = make_logits(10, 20, person=columns(10, 20, 10, 5, LOW), road=1.0, sky=0.0)
    result = run(logits, [], [], [], unknown_undetected_things=flag)
    road = result.panoptic == [s["id"] for s in result.segments if s["category_id"] == ROAD][0]
    assert not any(s["isthing"] for s in result.segments)
    if flag:
        assert (result.panoptic[:, :10] == 0).all() and road[:, 10:].all()
        assert result.segments[0]["area"] == 100
    else:
        assert road.all() and result.segments[0]["area"] == 200


@pytest.mark.parametrize("flag", [False, True])
def test_thing_pixels_in_a_box_of_another_class(flag):
    """Columns 0-9 say person (no person box); a car box covers columns 0-4 (car logit 2 > road 1) and
    columns 5-9 carry a car box whose car logit is below road: the research argmax gives columns 0-4 to the
    car, columns 5-9 fall back to road, or unknown with the flag."""
    car = columns(10, 20, 5, 2.0, LOW)
    logits = make_logits(10, 20, person=columns(10, 20, 10, 5, LOW), car=car, road=1.0)
    result = run(logits, [[0, 0, 5, 10], [5, 0, 10, 10]], [0.5, 0.6], [CAR, CAR], unknown_undetected_things=flag)
    assert owner_of_columns(result, [0.5, 0.6]) == [0] * 5 + [0 if flag else "ROAD"] * 5 + ["ROAD"] * 10


def test_no_stuff_classes_leave_uncovered_pixels_unknown():
    logits = torch.zeros(2, 6, 8)
    logits[0, :, :4] = 3.0
    result = fuse(logits, torch.tensor([[0.0, 0, 4, 6]]), torch.tensor([0.9]), torch.tensor([0]),
                  thing_mask=torch.tensor([True, True]), stuff_area_threshold=0)
    assert (result.panoptic[:, :4] == 1).all() and (result.panoptic[:, 4:] == 0).all()
    assert len(result.segments) == 1


# ------------------------------------------------------------------------------------------- stuff area
@pytest.mark.parametrize("threshold, kept", [(0, {ROAD, SKY}), (49, {ROAD, SKY}), (50, {ROAD}), (51, set())])
def test_small_stuff_removal_at_the_threshold(threshold, kept):
    road = torch.zeros(10, 10)
    road[:5] = 5.0                        # 50 pixels of road
    sky = torch.zeros(10, 10)
    sky[5:, :5] = 5.0                     # 25 + 24 = 49 pixels of sky, in two pieces
    sky[5:, 6:] = 5.0
    sky[5, 9] = 0.0
    person = torch.zeros(10, 10)
    person[5:, 5] = 5.0                   # 5 person pixels between them, covered by a box
    logits = make_logits(10, 10, road=road, sky=sky, person=person)
    result = run(logits, [[5, 5, 6, 10]], [0.9], [PERSON], stuff_area_threshold=threshold)
    stuff = {s["category_id"]: s for s in result.segments if not s["isthing"]}
    assert set(stuff) == kept
    assert int((result.panoptic == 0).sum()) == (50 if ROAD not in kept else 0) + (49 if SKY not in kept else 0) \
        + (1 if threshold == 0 else 1)   # pixel (5, 9): road 0, sky 0 -> road (first channel)? see below
    if SKY in kept:
        assert stuff[SKY]["area"] == 49 and stuff[SKY]["bbox"] == [0, 5, 10, 5]
    assert [s["id"] for s in result.segments] == list(range(1, len(result.segments) + 1))
