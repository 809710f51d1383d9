"""Re-identification's motion cues: velocities measured on cut boxes, the camera's motion from the background only,
the path position gate, the direction gate and doubt from look-alikes just outside the gate."""
import numpy as np
import pytest

from panoptic_ros.config import InferenceConfig
from panoptic_ros.tracking import PanopticTracker, reid
from panoptic_ros.tracking.tracker import _box_velocities

SHAPE = (240, 320)          # height, width
SETTINGS = {"similarity": 0.6, "distance": 1.0, "margin": 0.15, "depth": 0.0, "min_size": 0.0, "min_speed": 10.0}
HIST = np.full(64, 1 / 64, np.float32)


def velocity(old, new, dt=0.1, cam=(0.0, 0.0)):
    return _box_velocities(np.array([old]), np.array([new]), np.array([dt]), np.array([cam]), SHAPE)[0].tolist()


def test_an_uncut_box_moves_with_its_centre():
    assert velocity((100, 50, 140, 90), (105, 52, 145, 92)) == pytest.approx([50, 20])


def test_a_box_going_behind_an_occluder_moves_with_its_free_edge():
    # right edge held by an occluder at x = 140, left edge moves +10 px: the object moves 100 px/s, not 50
    assert velocity((100, 50, 140, 90), (110, 50, 140, 90))[0] == pytest.approx(100)
    # ... and coming out of it on the other side: leading edge
    assert velocity((200, 50, 210, 90), (200, 50, 222, 90))[0] == pytest.approx(120)


def test_a_static_occluder_moves_with_the_camera():
    # the camera's image motion is +5 px: the occluder's edge (right) moved +5, the free edge +15 -> +10 own
    assert velocity((100, 50, 140, 90), (115, 50, 145, 90), cam=(5, 0))[0] == pytest.approx(100)


def test_a_box_leaving_through_the_image_border_moves_with_its_inner_edge():
    assert velocity((0, 50, 30, 90), (0, 50, 20, 90))[0] == pytest.approx(-100)
    assert velocity((290, 50, 320, 90), (300, 50, 320, 90))[0] == pytest.approx(100)


def test_a_box_that_touched_the_border_in_either_frame_moves_with_its_inner_edge():
    # was at the left border, now inside and smaller: the left edge's +8 px was the border's cut, the right edge's
    # +4 px the object's (a cut by an occluder would take the larger move)
    assert velocity((0, 50, 10, 90), (8, 50, 14, 90))[0] == pytest.approx(40)
    assert velocity((310, 50, 320, 90), (306, 50, 312, 90))[0] == pytest.approx(-40)


def test_edges_moving_apart_are_the_shape_not_a_cut():
    # an emerging polygon grows up and down at once: no vertical motion (the larger edge would say +-50 px/s)
    assert velocity((100, 50, 140, 90), (100, 45, 140, 95))[1] == pytest.approx(0)


def queries(center, velocity=(np.nan, np.nan), size=20.0):
    return {"category": np.array([1]), "center": np.array([center], float), "size": np.array([size]),
            "hist": HIST[None], "border": np.array([False]), "depth": np.array([np.nan]),
            "velocity": np.array([velocity], float)}


def candidates(*tracks):
    """tracks: (origin, predicted centre, velocity) each, class 1, size 20, lost 1 s."""
    n = len(tracks)
    return {"category": np.ones(n, int), "origin": np.array([t[0] for t in tracks], float),
            "center": np.array([t[1] for t in tracks], float), "velocity": np.array([t[2] for t in tracks], float),
            "size": np.full(n, 20.0), "lost": np.ones(n), "border": np.zeros(n, bool), "depth": np.full(n, np.nan),
            "hist": [HIST] * n}


@pytest.mark.parametrize("old, new, expected", [
    # the bottom border is the height (240), not the width: a box that touched it moves with its top edge
    ((100, 200, 140, 240), (100, 203, 140, 238), (0, 30)),
    # edges closing in: at x = 0 exactly (touching the border) the inner edge counts; at x = 1 (inside) neither
    # edge is held, so the centre
    ((0, 50, 30, 90), (2, 50, 26, 90), (-40, 0)),
    ((1, 50, 31, 90), (3, 50, 27, 90), (-10, 0)),
    # edges moving apart, the new box touching a border (at x = 0 or x1 = 320 exactly): the inner edge; at x = 1
    # (inside): the centre
    ((2, 50, 32, 90), (0, 50, 33, 90), (10, 0)),
    ((3, 50, 33, 90), (1, 50, 34, 90), (-5, 0)),
    ((288, 50, 318, 90), (287, 50, 320, 90), (-10, 0)),
    # at the right border in the old frame only (x1 = 320): the inner (left) edge
    ((290, 50, 320, 90), (296, 50, 319, 90), (60, 0)),
    # an extent change of exactly 1.5 px (CUT_EXTENT's floor, above 5 % of 30 px) is no cut: the centre
    ((100, 50, 130, 90), (101.5, 50, 130, 90), (7.5, 0)),
    # ... 1 px on a 10 px box neither (5 % of it would be 0.5 px: the floor decides)
    ((100, 50, 110, 90), (101, 50, 110, 90), (5, 0)),
    # growing to the left with the right edge still: a cut, the free (left) edge moves
    ((100, 50, 140, 90), (97, 50, 140, 90), (-30, 0)),
])
def test_box_velocities_at_the_borders_and_the_cut_thresholds(old, new, expected):
    assert velocity(old, new) == pytest.approx(list(expected))


def test_an_object_that_stopped_behind_an_occluder_is_on_its_path():
    # last seen at x 100 moving +100 px/s, lost 1 s (radius 20 x 2 = 40): found where it went out of sight
    lost = candidates(((100, 100), (200, 100), (100, 0)))
    assert reid.match(queries((110, 100)), lost, SETTINGS) == {0: 0}
    assert reid.match(queries((150, 100)), lost, SETTINGS) == {0: 0}
    assert reid.match(queries((110, 150)), lost, SETTINGS) == {}           # off the path
    assert reid.match(queries((260, 100)), lost, SETTINGS) == {}           # beyond where it could be


def test_an_object_moving_the_other_way_is_not_the_lost_one():
    lost = candidates(((100, 100), (150, 100), (50, 0)))
    assert reid.match(queries((120, 100), velocity=(-40, 0)), lost, SETTINGS) == {}
    assert reid.match(queries((120, 100), velocity=(40, 0)), lost, SETTINGS) == {0: 0}
    assert reid.match(queries((120, 100), velocity=(-5, 0)), lost, SETTINGS) == {0: 0}    # too slow to tell
    assert reid.match(queries((120, 100)), lost, SETTINGS) == {0: 0}                        # not known yet


def test_a_look_alike_moving_the_other_way_is_a_reason_for_doubt_only_when_about_as_near():
    """Two look-alikes lost near the query: one moving with it, one against it. Opposite directions rule that one
    out as the match, but an emerging segment's velocity can point the wrong way: while it is about as near, a new
    id, not the other one. Its different course counts as distance, though (MOTION_WEIGHT gate radii at most), so
    one a little farther is no look-alike. Gate radius 20 x (1 + 1 s) = 40 px; the one moving with it is on its
    path, 0.45 x 10 / 50 = 0.09 radii; the other is 6 or 2 px off: 0.15 or 0.05 radii, + 0.45 (opposite) against
    the look-alike limit 0.09 + 0.5."""
    with_it = ((100, 100), (150, 100), (50, 0))
    query = queries((124, 100), velocity=(40, 0))
    assert reid.match(query, candidates(with_it), SETTINGS) == {0: 0}
    for x, expected in ((130, {0: 0}), (126, {})):
        against = ((x, 100), (x, 100), (-50, 0))
        assert reid.match(query, candidates(against), SETTINGS) == {}, x
        assert reid.match(query, candidates(with_it, against), SETTINGS) == expected, x
    assert reid.match_costs(query, candidates(with_it), SETTINGS)[0][1] == pytest.approx(0.5 * 0.45 * 0.2)


def test_a_look_alike_just_outside_the_gate_is_a_reason_for_doubt():
    """The query is 36 px from one lost look-alike (inside the 40 px gate) and 44 px from another (outside it, but
    about as likely): a new id, not a guess."""
    near = ((100, 100), (100, 100), (0, 0))
    outside = ((180, 100), (180, 100), (0, 0))
    assert reid.match(queries((136, 100)), candidates(near), SETTINGS) == {0: 0}
    assert reid.match(queries((136, 100)), candidates(near, outside), SETTINGS) == {}
    far = ((300, 100), (300, 100), (0, 0))
    assert reid.match(queries((136, 100)), candidates(near, far), SETTINGS) == {0: 0}


def textured(shape, seed):
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, (shape[0] // 4, shape[1] // 4, 3))
    return np.kron(small, np.ones((4, 4, 1))).astype(np.uint8)


@pytest.mark.parametrize("camera", [0, 6])
def test_the_camera_motion_comes_from_the_background_not_the_moving_things(camera):
    """A faint static background under a large, high-contrast object moving 12 px per frame: the image's shift is
    the camera's (0 or 6 px), not pulled towards the object's."""
    h, w = SHAPE
    world = (textured((h, w + 60), 1).astype(np.float32) * 0.15 + 100).astype(np.uint8)
    thing = textured((120, 160), 2)
    tracker = PanopticTracker(InferenceConfig(track_iou_pixels=0), None)
    steps = []
    for i in range(4):
        x0 = 30 - camera * i                       # the view moves right: the background shifts left by `camera`
        image = world[:, 30 + camera * i:30 + camera * i + w].copy()
        ox = 40 + 12 * i                           # the object moves right by 12 px per frame in the image
        image[60:180, ox:ox + 160] = thing
        g = np.zeros((h, w), np.uint8)
        g[60:180, ox:ox + 160] = 1
        steps.append(tracker._camera_step(image, g, 1))
        assert x0 is not None
    for step in steps[1:]:
        assert step is not None and step[0] == pytest.approx(-camera, abs=0.75), steps


def test_look_alikes_are_told_apart_by_a_clear_difference_in_position_only():
    """Same colours: one lost look-alike 0.3 gate radii from the query, another 0.75 (40 px radius). The costs
    differ by more than the margin, but a colour difference that small is noise: half a radius of position must
    separate them, else a new id."""
    best = ((112, 100), (112, 100), (0, 0))
    assert reid.match(queries((100, 100)), candidates(best, ((130, 100), (130, 100), (0, 0))), SETTINGS) == {}
    assert reid.match(queries((100, 100)), candidates(best, ((136, 100), (136, 100), (0, 0))), SETTINGS) == {0: 0}


def square_frame(side: int, x: int = 100, colour=(200, 40, 40)):
    """A 240x320 frame with one square thing (channel 0) of the given side at (x, 60) on stuff (channel 5)."""
    import torch

    from panoptic_ros.panoptic.result import PanopticResult
    pan = np.ones(SHAPE, np.int32)
    image = np.full(SHAPE + (3,), 110, np.uint8)
    pan[60:60 + side, x:x + side] = 2
    image[60:60 + side, x:x + side] = colour
    segments = [{"id": 1, "category_id": 5, "isthing": False, "score": 1.0, "bbox": [0, 0, SHAPE[1], SHAPE[0]],
                 "area": SHAPE[0] * SHAPE[1]}]
    if side:
        segments.append({"id": 2, "category_id": 0, "isthing": True, "score": 0.9, "bbox": [x, 60, side, side],
                         "area": side * side})
    return PanopticResult(torch.from_numpy(pan), segments), image


def step(tracker, stamp, *args, **kwargs):
    result, image = square_frame(*args, **kwargs)
    return tracker.update(result, stamp, image=image)


def test_a_young_track_is_compared_with_the_lost_ones_while_it_emerges_only(monkeypatch):
    """A new object is compared with the lost ones in its first two frames, then again only when it has grown
    (a re-entering object shows a sliver first); otherwise the answer would not change and the cost would."""
    from panoptic_ros.data.synth import CATEGORIES
    compared = []
    real = reid.match_costs
    monkeypatch.setattr(reid, "match_costs", lambda q, c, s: compared.append(len(q["category"])) or real(q, c, s))
    tracker = PanopticTracker(InferenceConfig(track_iou_pixels=0), CATEGORIES)
    stamp = 0.0
    for _ in range(3):                       # an object that will be lost (green: not the newcomer's look)
        step(tracker, stamp, 20, x=20, colour=(40, 180, 60))
        stamp += 0.1
    for _ in range(12):                      # gone for 1.2 s: its track ends and goes to the memory
        step(tracker, stamp, 0)
        stamp += 0.1
    assert tracker.num_remembered == 1
    sides = [20, 20, 20, 20, 20, 26, 26, 26]
    for frame, side in enumerate(sides):     # a newcomer: same size for 5 frames, then grown by 30 %
        compared.clear()
        step(tracker, stamp, side)
        stamp += 0.1
        expected = frame in (0, 1, 5)
        assert bool(compared) == expected, (frame, compared)


def test_frames_without_things_still_measure_the_camera():
    """The camera pans 6 px per frame while nothing is in view: the tracker's camera offset follows, and the first
    frame with a thing again measures one frame's step (not the shift since the last frame with things)."""
    import torch

    from panoptic_ros.panoptic.result import PanopticResult
    h, w = SHAPE
    world = textured((h, w + 120), 3)
    tracker = PanopticTracker(InferenceConfig(track_iou_pixels=0), None)
    stuff = {"id": 1, "category_id": 5, "isthing": False, "score": 1.0, "bbox": [0, 0, w, h], "area": h * w}
    views = [0, 0, 0] + [6 * i for i in range(1, 9)]      # static for three frames, then panning right
    for i, x in enumerate(views):
        pan = np.ones(SHAPE, np.int32)
        segments = [stuff]
        if i < 3 or i == len(views) - 1:                   # a thing in the first frames and the last one
            pan[60:100, 100:140] = 2
            segments = [stuff, {"id": 2, "category_id": 0, "isthing": True, "score": 0.9,
                                "bbox": [100, 60, 40, 40], "area": 1600}]
        tracker.update(PanopticResult(torch.from_numpy(pan), segments), i / 10,
                       image=np.ascontiguousarray(world[:, x:x + w]))
        assert tracker._cam_offset[0] == pytest.approx(-x, abs=1.5), (i, tracker._cam_offset)
