"""Hand-built cases of fuse() whose right answer is known from the method's definition."""
import math

import numpy as np
import pytest
import torch

from panoptic_ros.panoptic import PanopticResult, box_policies, fuse, fuse_batch

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
    boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    return fuse(logits, boxes, torch.tensor(scores, dtype=torch.float64), torch.tensor(labels, dtype=torch.int64),
                thing_mask=THINGS, **kwargs)


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
    for policy in box_policies():
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


@pytest.mark.parametrize("scores, column4", [([0.4, 0.8], 1), ([0.8, 0.4], 0)])
def test_closest_center_equal_distances_go_to_the_higher_score(scores, column4):
    # centers x = 3 and 7; offsets +0.5 make column 4 point at x = 5, exactly between them
    logits = make_logits(4, 10, person=5.0, road=0.0)
    offsets = torch.zeros(2, 4, 10)
    offsets[0] = 0.5
    result = run(logits, [[0, 0, 6, 4], [4, 0, 10, 4]], scores, [PERSON, PERSON], policy="closest_center",
                 center_offsets=offsets)
    assert owner_of_columns(result, scores) == [0] * 4 + [column4] + [1] * 5


def test_policies_only_act_within_a_class():
    # same geometry, different classes, person logit higher everywhere: person takes the overlap under
    # every policy although the car is smaller, more confident and (with zero offsets) closer
    logits = make_logits(10, 20, person=5.0, car=4.0, road=0.0)
    for policy in box_policies():
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
    """Road: 50 pixels; sky: 49 pixels in two pieces (split by road); one person pixel with its box."""
    cls = torch.full((10, 10), ROAD)
    cls[4:, :5] = SKY                     # 30
    cls[5:, 6:] = SKY                     # 20, minus the person pixel below
    cls[9, 9] = PERSON
    assert [(cls == c).sum().item() for c in (PERSON, ROAD, SKY)] == [1, 50, 49]
    logits = torch.full((4, 10, 10), LOW).scatter_(0, cls[None], 5.0)
    result = run(logits, [[9, 9, 10, 10]], [0.9], [PERSON], stuff_area_threshold=threshold)
    stuff = {s["category_id"]: s for s in result.segments if not s["isthing"]}
    assert set(stuff) == kept
    removed = (50 if ROAD not in kept else 0) + (49 if SKY not in kept else 0)
    assert int((result.panoptic == 0).sum()) == removed
    if SKY in kept:                       # one segment for both pieces
        assert stuff[SKY]["area"] == 49 and stuff[SKY]["bbox"] == [0, 4, 10, 6]
        assert (result.panoptic[cls == SKY] == stuff[SKY]["id"]).all()
    assert [s["id"] for s in result.segments] == list(range(1, len(result.segments) + 1))
    assert result.segments[-1]["isthing"] and result.segments[-1]["bbox"] == [9, 9, 1, 1]


# ------------------------------------------------------------------------------------ empty and degenerate
@pytest.mark.parametrize("height, width", [(0, 5), (5, 0), (0, 0)])
def test_empty_image(height, width):
    logits = torch.zeros(4, height, width)
    result = run(logits, [[0, 0, 3, 3]], [0.9], [PERSON], policy="closest_center",
                 center_offsets=torch.zeros(2, height, width))
    assert result.panoptic.shape == (height, width) and result.panoptic.dtype == torch.int32
    assert result.segments == []


@pytest.mark.parametrize("empty", [torch.zeros(0, 4), torch.zeros(0), []])
def test_no_detections_gives_stuff_only(empty):
    logits = make_logits(6, 8, road=columns(6, 8, 3, 2.0, 0.0), sky=columns(6, 8, 3, 0.0, 2.0),
                         person=9.0)     # person everywhere, but nothing detected
    result = fuse(logits, empty, torch.zeros(0), torch.zeros(0, dtype=torch.int64), thing_mask=THINGS,
                  stuff_area_threshold=0)
    assert [(s["category_id"], s["area"], s["bbox"]) for s in result.segments] == \
        [(ROAD, 18, [0, 0, 3, 6]), (SKY, 30, [3, 0, 5, 6])]
    assert all(s["score"] == 1.0 and not s["isthing"] for s in result.segments)


def test_boxes_are_clipped_and_outside_or_degenerate_boxes_give_no_segment():
    logits = make_logits(10, 20, person=5.0, road=0.0)
    boxes = [[-5, -5, 5, 5], [30, 30, 40, 40], [12, 2, 12, 8], [15, 8, 14, 9]]
    result = run(logits, boxes, [0.9, 0.8, 0.7, 0.6], [PERSON] * 4)
    things = [s for s in result.segments if s["isthing"]]
    assert len(things) == 1 and things[0]["bbox"] == [0, 0, 5, 5] and things[0]["area"] == 25


def test_fractional_boxes_take_the_pixels_whose_centers_they_contain():
    logits = make_logits(4, 10, person=5.0, road=0.0)
    result = run(logits, [[0.6, 0.0, 5.5, 4.0]], [0.9], [PERSON])
    # centers 0.5 (< 0.6, out), 1.5 .. 4.5 (in), 5.5 (= x2, out)
    assert det_mask(result, 0.9)[0].tolist() == [False] + [True] * 4 + [False] * 5


def test_segment_order_and_ids():
    logits = make_logits(4, 12, sky=columns(4, 12, 6, 1.0, 3.0), road=columns(4, 12, 6, 3.0, 1.0), person=2.0,
                         car=2.5)
    logits[PERSON, :, 4:6] = 5.0
    logits[CAR, :, 0:2] = 5.0
    result = run(logits, [[4, 0, 6, 4], [0, 0, 2, 4]], [0.3, 0.6], [PERSON, CAR])
    assert [(s["id"], s["category_id"], s["isthing"]) for s in result.segments] == \
        [(1, ROAD, False), (2, SKY, False), (3, PERSON, True), (4, CAR, True)]
    assert result.panoptic[0].tolist() == [4, 4, 1, 1, 3, 3, 2, 2, 2, 2, 2, 2]
    assert result.category_map()[0].tolist() == [CAR, CAR, ROAD, ROAD, PERSON, PERSON] + [SKY] * 6


# ------------------------------------------------------------------------------------------- bad input
def _ok():
    return dict(semantic_logits=make_logits(6, 8, person=1.0, road=0.0), boxes=torch.tensor([[0.0, 0, 4, 4]]),
                scores=torch.tensor([0.5]), labels=torch.tensor([PERSON]), thing_mask=THINGS)


def _call(**changes):
    args = _ok()
    args.update(changes)
    logits, boxes, scores, labels = (args.pop(k) for k in ("semantic_logits", "boxes", "scores", "labels"))
    return fuse(logits, boxes, scores, labels, **args)


def _nan_at(channel, row=5, column=7):
    logits = make_logits(6, 8, person=1.0, road=0.0)
    logits[channel, row, column] = math.nan
    return logits


def test_thing_logits_outside_the_boxes_are_not_read():
    """Without unknown_undetected_things, thing channels are read only inside their detections' boxes."""
    expected = _call()
    for logits in (_nan_at(CAR), _nan_at(PERSON, 5, 7)):
        result = _call(semantic_logits=logits)
        assert torch.equal(result.panoptic, expected.panoptic) and result.segments == expected.segments


@pytest.mark.parametrize("changes, names", [
    (dict(semantic_logits=torch.zeros(6, 8)), "semantic_logits"),
    (dict(semantic_logits=torch.zeros(4, 6, 8, dtype=torch.int64)), "semantic_logits"),
    (dict(semantic_logits=torch.zeros(0, 6, 8), thing_mask=torch.zeros(0, dtype=torch.bool)), "semantic_logits"),
    (dict(semantic_logits=_nan_at(ROAD)), "semantic_logits.*NaN"),
    (dict(semantic_logits=_nan_at(PERSON, 2, 2)), "semantic_logits.*NaN.*inside the boxes"),
    (dict(semantic_logits=_nan_at(CAR), unknown_undetected_things=True), "semantic_logits.*NaN.*thing"),
    (dict(semantic_logits=make_logits(6, 8, sky=math.inf)), "semantic_logits.*inf"),
    (dict(thing_mask=torch.tensor([True, False, False])), "thing_mask"),
    (dict(thing_mask=torch.tensor([0.5, 1.0, 0.0, 0.0])), "thing_mask"),
    (dict(boxes=torch.zeros(1, 3)), "boxes"),
    (dict(boxes=torch.tensor([[0.0, 0, math.nan, 4]])), "boxes"),
    (dict(scores=torch.tensor([0.5, 0.4])), "scores"),
    (dict(scores=torch.tensor([math.nan])), "scores"),
    (dict(labels=torch.tensor([PERSON, CAR])), "labels"),
    (dict(labels=torch.tensor([ROAD])), "labels.*stuff"),
    (dict(labels=torch.tensor([7])), "labels.*range"),
    (dict(labels=torch.tensor([-1])), "labels.*range"),
    (dict(labels=torch.tensor([0.5])), "labels"),
    (dict(policy="largest_first"), "policy.*highest_confidence"),
    (dict(policy="closest_center"), "center_offsets"),
    (dict(policy="closest_center", center_offsets=torch.zeros(2, 8, 6)), "center_offsets"),
    (dict(policy="closest_center", center_offsets=torch.full((2, 6, 8), math.nan)), "center_offsets"),
    (dict(stuff_area_threshold=-1), "stuff_area_threshold"),
    (dict(stuff_area_threshold=2.5), "stuff_area_threshold"),
])
def test_bad_input_raises_a_value_error_naming_the_argument(changes, names):
    _call()  # the unchanged arguments are fine
    with pytest.raises(ValueError, match=names):
        _call(**changes)


def test_inputs_may_be_numpy_arrays_and_lists():
    args = _ok()
    expected = _call()
    result = fuse(args["semantic_logits"].numpy(), [[0, 0, 4, 4]], [0.5], [PERSON], thing_mask=[1, 1, 0, 0])
    assert torch.equal(result.panoptic, expected.panoptic) and result.segments == expected.segments


# -------------------------------------------------------------------------------------- dtypes, devices
def _scene(dtype, device="cpu"):
    torch.manual_seed(3)
    logits = (torch.randint(-16, 16, (4, 24, 32)) / 4.0).to(dtype=dtype, device=device)  # exact in fp16/bf16
    boxes = torch.tensor([[0.0, 0, 20, 16], [8, 4, 32, 24], [10, 2, 18, 20], [2, 10, 30, 22]])
    offsets = (torch.randint(-8, 8, (2, 24, 32)) / 2.0).to(dtype=dtype, device=device)
    return logits, boxes, torch.tensor([0.5, 0.9, 0.7, 0.9]), torch.tensor([PERSON, PERSON, CAR, PERSON]), offsets


@pytest.mark.parametrize("policy", box_policies())
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_low_and_high_precision_inputs_give_the_float32_result(policy, dtype):
    results = []
    for dt in (torch.float32, dtype):
        logits, boxes, scores, labels, offsets = _scene(dt)
        results.append(fuse(logits, boxes, scores, labels, thing_mask=THINGS, policy=policy, center_offsets=offsets,
                            stuff_area_threshold=30))
    assert torch.equal(results[0].panoptic, results[1].panoptic)
    assert results[0].segments == results[1].segments
    assert any(s["isthing"] for s in results[0].segments) and any(not s["isthing"] for s in results[0].segments)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_cuda_matches_cpu(dtype):
    for policy in box_policies():
        cpu = fuse(*_scene(dtype)[:4], thing_mask=THINGS, policy=policy, center_offsets=_scene(dtype)[4])
        logits, boxes, scores, labels, offsets = _scene(dtype, "cuda")
        gpu = fuse(logits, boxes, scores, labels, thing_mask=THINGS, policy=policy, center_offsets=offsets)
        assert gpu.panoptic.is_cuda and torch.equal(gpu.panoptic.cpu(), cpu.panoptic)
        assert gpu.segments == cpu.segments


def test_fuse_batch_equals_fuse_per_image():
    logits, boxes, scores, labels, offsets = _scene(torch.float32)
    flipped = logits.flip(-1)
    batch = fuse_batch(torch.stack([logits, flipped]), [boxes, boxes[:0]], [scores, scores[:0]], [labels, labels[:0]],
                       thing_mask=THINGS, policy="closest_center", center_offsets=torch.stack([offsets, offsets]),
                       stuff_area_threshold=10)
    singles = [fuse(logits, boxes, scores, labels, thing_mask=THINGS, policy="closest_center",
                    center_offsets=offsets, stuff_area_threshold=10),
               fuse(flipped, boxes[:0], scores[:0], labels[:0], thing_mask=THINGS, policy="closest_center",
                    center_offsets=offsets, stuff_area_threshold=10)]
    assert all(isinstance(r, PanopticResult) for r in batch)
    for got, want in zip(batch, singles):
        assert torch.equal(got.panoptic, want.panoptic) and got.segments == want.segments
    with pytest.raises(ValueError, match="boxes"):
        fuse_batch(torch.stack([logits, flipped]), [boxes], [scores, scores], [labels, labels], thing_mask=THINGS)
    with pytest.raises(ValueError, match="semantic_logits"):
        fuse_batch(logits, [boxes], [scores], [labels], thing_mask=THINGS)
