"""The state a track carries from frame to frame, against hand-computed values (a mutation run found the update
after matching unchecked: docs/mutation.md): velocity measured then smoothed, the camera's step from the tracks
seen whole when there is no image, the whole mask kept over a partly hidden view for at most MAX_KEPT_MASK frames,
and the velocity new tracks start with."""
import numpy as np
import pytest
from tracking_frames import rect_frame as frame

from panoptic_ros.config import InferenceConfig
from panoptic_ros.data.synth import CATEGORIES
from panoptic_ros.tracking import PanopticTracker
from panoptic_ros.tracking import tracker as tr

DT = 0.1


def tracker_without_reid():
    return PanopticTracker(InferenceConfig(track_iou_pixels=0, track_reid=False), CATEGORIES)


def row_of(tracker, result, out, k):
    """The table row of rectangle k (segment id k + 2 of frame())."""
    stable = int(out.panoptic.numpy()[result.panoptic.numpy() == k + 2][0])
    return int(np.flatnonzero(tracker._table.id == stable)[0])


def step(tracker, rects, t, w=120):
    res = frame(rects, w=w)
    out = tracker.update(res, t * DT)
    return [row_of(tracker, res, out, k) for k in range(len(rects))]


def test_velocity_is_measured_then_smoothed():
    """One square: 4 px per frame, then 8: the first measurement is taken as it is (40 px/s), later ones are
    averaged with it, VELOCITY_SMOOTHING = 0.5 (60 px/s); without camera motion the own motion is the same."""
    tracker = tracker_without_reid()
    t = tracker._table
    step(tracker, [(20, 20, 10, 10)], 0)
    (r,) = step(tracker, [(24, 20, 10, 10)], 1)
    np.testing.assert_allclose(t.velocity[r], [40.0, 0.0])
    np.testing.assert_allclose(t.rel_velocity[r], [40.0, 0.0])
    (r,) = step(tracker, [(32, 20, 10, 10)], 2)
    np.testing.assert_allclose(t.velocity[r], [60.0, 0.0])
    np.testing.assert_allclose(t.rel_velocity[r], [60.0, 0.0])
    assert tracker._cam_offset == (0.0, 0.0) and tracker._cam_velocity == (0.0, 0.0)   # one track: no camera


def test_without_an_image_the_camera_step_is_the_median_shift_of_the_tracks_seen_whole():
    """Exactly MIN_CAMERA_TRACKS squares all move (+5, +2) px per frame: that is the camera's step (offset (5, 2),
    velocity (50, 20) px/s), and the objects' own motion is zero; with one square fewer the camera is not measured."""
    assert tr.MIN_CAMERA_TRACKS == 3
    tracker = tracker_without_reid()
    t = tracker._table
    start = [(10, 5, 10, 10), (40, 5, 10, 10), (70, 5, 10, 10)]
    step(tracker, start, 0)
    rows = step(tracker, [(x + 5, y + 2, w, h) for x, y, w, h in start], 1)
    np.testing.assert_allclose(tracker._cam_offset, (5.0, 2.0))
    np.testing.assert_allclose(tracker._cam_velocity, (50.0, 20.0))
    np.testing.assert_allclose(t.velocity[rows], [[50.0, 20.0]] * 3)
    np.testing.assert_allclose(t.rel_velocity[rows], 0.0, atol=1e-9)
    np.testing.assert_allclose(t.cam_offset[rows], [[5.0, 2.0]] * 3)

    two = tracker_without_reid()
    step(two, start[:2], 0)
    step(two, [(x + 5, y + 2, w, h) for x, y, w, h in start[:2]], 1)
    assert two._cam_offset == (0.0, 0.0)


def test_tracks_not_seen_whole_in_the_last_frame_do_not_measure_the_camera():
    """Three squares seen in frames 0, 1, 2 move (+5, 0) per frame; three others, missing in frame 1, moved
    (+10, 0) over the two frames: the step of frame 2 is the first three's (5 px), not the median of all six
    (7.5 px)."""
    tracker = tracker_without_reid()
    seen = [(10, 5, 10, 10), (40, 5, 10, 10), (70, 5, 10, 10)]
    missing = [(10, 35, 10, 10), (40, 35, 10, 10), (70, 35, 10, 10)]
    step(tracker, seen + missing, 0)
    step(tracker, [(x + 5, y, w, h) for x, y, w, h in seen], 1)
    offset = tracker._cam_offset
    step(tracker, [(x + 10, y, w, h) for x, y, w, h in seen + missing], 2)
    np.testing.assert_allclose(np.subtract(tracker._cam_offset, offset), (5.0, 0.0))


@pytest.mark.parametrize("rows_seen, hidden", [(7, False), (6, True)])
def test_a_segment_below_the_occluded_fraction_keeps_the_whole_mask(rows_seen, hidden):
    """A 10 x 10 square seen as 10 x 7 (70 px: exactly OCCLUDED_AREA of its 100, not below it) takes the new mask;
    seen as 10 x 6 it is partly hidden: the whole mask, box and mask stamp stay, the frame counts as seen."""
    assert tr.OCCLUDED_AREA == 0.7
    tracker = tracker_without_reid()
    t = tracker._table
    step(tracker, [(20, 20, 10, 10)], 0)
    (r,) = step(tracker, [(20, 20, 10, rows_seen)], 1)
    assert t.last_seen[r] == DT
    if hidden:
        assert t.kept[r] == 1 and t.mask_size[r] == 100 and t.mask_stamp[r] == 0.0
        np.testing.assert_allclose(t.box[r], [20, 20, 30, 30])
    else:
        assert t.kept[r] == 0 and t.mask_size[r] == 10 * rows_seen and t.mask_stamp[r] == DT
        np.testing.assert_allclose(t.box[r], [20, 20, 30, 20 + rows_seen])


def test_the_whole_mask_is_kept_for_at_most_max_kept_mask_frames():
    """Partly hidden in every frame from frame 1: the count goes 1, 2, 3 (MAX_KEPT_MASK), then the smaller mask
    replaces the whole one (count back to 0) and, at its own size, is no longer partly hidden."""
    assert tr.MAX_KEPT_MASK == 3
    tracker = tracker_without_reid()
    t = tracker._table
    step(tracker, [(20, 20, 10, 10)], 0)
    counts, sizes = [], []
    for i in range(1, 7):
        (r,) = step(tracker, [(20, 20, 10, 5)], i)
        counts.append(int(t.kept[r]))
        sizes.append(int(t.mask_size[r]))
    assert counts == [1, 2, 3, 0, 0, 0]
    assert sizes == [100, 100, 100, 50, 50, 50]


def test_new_tracks_start_with_the_median_velocity_of_the_established_ones():
    """Three squares moving at 30, 40 and 80 px/s (seen since frame 0: established in frame 2); a still square
    born in frame 1 (one frame old in frame 2: its velocity is only its own starting guess, 0) does not count; a
    square appearing in frame 2 starts with the median of the three, 40 px/s (35 with the young one counted)."""
    tracker = tracker_without_reid()
    t = tracker._table
    speeds = (3, 4, 8)
    for i in range(3):
        rects = [(10 + s * i, 5 + 20 * k, 10, 10) for k, s in enumerate(speeds)]
        if i >= 1:
            rects.append((100, 5, 10, 10))
        if i == 2:
            rects.append((100, 40, 10, 10))
        rows = step(tracker, rects, i, w=160)
    np.testing.assert_allclose(t.velocity[rows[4]], [40.0, 0.0])
    assert t.age[rows[4]] == 1 and t.age[rows[3]] == 2


def test_the_frame_an_object_comes_out_from_behind_something_does_not_measure_its_velocity():
    """40 px/s while seen whole; partly hidden in frame 2 (its whole mask kept); whole again in frame 3, 10 px
    from where it was last seen whole two frames before: that span mixes hidden frames, so the velocity stays
    40 px/s (not averaged with 50) and the new mask is taken."""
    tracker = tracker_without_reid()
    t = tracker._table
    step(tracker, [(20, 20, 10, 10)], 0)
    step(tracker, [(24, 20, 10, 10)], 1)
    (r,) = step(tracker, [(28, 20, 10, 5)], 2)
    assert t.kept[r] == 1
    (r,) = step(tracker, [(34, 20, 10, 10)], 3)
    assert t.kept[r] == 0 and t.mask_stamp[r] == 3 * DT
    np.testing.assert_allclose(t.velocity[r], [40.0, 0.0])
