"""Tracker rules that a test must catch when they break (issue 19): reset on a new image size, track_min_iou, the
occlusion rule, new tracks' prior velocity, the id counter's wrap; and the per-sequence STQ's geometric mean."""
import numpy as np
import pytest
from tracking_frames import rect_frame as frame

from panoptic_ros.config import InferenceConfig
from panoptic_ros.data.synth import CATEGORIES
from panoptic_ros.evaluation.stq import STQEvaluator
from panoptic_ros.tracking import THING_ID_BASE, PanopticTracker
from panoptic_ros.tracking import tracker as tracker_module


def stable(tracker, rects, stamp, h=60, w=120):
    """Stable id of each rectangle (None when not visible)."""
    res = frame(rects, h, w)
    pan, out = res.panoptic.numpy(), tracker.update(res, stamp).panoptic.numpy()
    return [int(out[pan == k + 2][0]) if (pan == k + 2).any() else None for k in range(len(rects))]


def test_a_new_comparison_grid_ends_the_tracks_other_settings_keep_them():
    """Masks are stored on the comparison grid: a new track_iou_pixels ends the tracks (ids keep counting)."""
    tracker = PanopticTracker(InferenceConfig(track_iou_pixels=0), CATEGORIES)
    a = stable(tracker, [(20, 20, 12, 12)], 0.0)[0]
    tracker.configure(InferenceConfig(track_iou_pixels=0, track_min_iou=0.3))
    assert stable(tracker, [(20, 20, 12, 12)], 0.1)[0] == a
    tracker.configure(InferenceConfig(track_iou_pixels=2000))
    assert tracker.num_tracks == 0
    assert stable(tracker, [(20, 20, 12, 12)], 0.2)[0] > a


def test_a_new_image_size_resets_the_tracker():
    tracker = PanopticTracker(InferenceConfig(track_iou_pixels=0), CATEGORIES)
    a = stable(tracker, [(20, 20, 12, 12)], 0.0)[0]
    b = stable(tracker, [(20, 20, 12, 12)], 0.1, h=64, w=120)[0]
    assert "image size changed" in tracker.last_reset and "120x60" in tracker.last_reset
    assert b > a and tracker.num_tracks == 1


def test_track_min_iou_decides_between_overlap_and_distance():
    """A 20 px track; next frame: a 20 px segment shifted 10 px (IoU 1/3, centre 10 px away) and a 4 px segment
    inside the old mask (IoU 0.04, centre 6 px away). track_min_iou 0.2: the overlap continues the track;
    0.5: no pair passes the IoU stage and the centre-distance stage gives the track to the nearer small one."""
    def run(min_iou):
        tracker = PanopticTracker(InferenceConfig(track_iou_pixels=0, track_min_iou=min_iou, track_motion=False),
                                  CATEGORIES)
        first = stable(tracker, [(40, 20, 20, 20)], 0.0)[0]
        return first, stable(tracker, [(50, 20, 20, 20), (42, 28, 4, 4)], 0.1)
    first, (shifted, small) = run(0.2)
    assert shifted == first and small != first
    first, (shifted, small) = run(0.5)
    assert small == first and shifted != first


def test_a_partly_hidden_object_keeps_its_whole_mask():
    """A 20 px disc moving 5 px per frame passes behind a stationary disc drawn on top of it (partly hidden for
    two frames: only a 4-5 px sliver shows). With its whole mask and velocity kept it is found where it comes out;
    taking the sliver as its new mask (and its centre's jump as velocity) loses it."""
    tracker = PanopticTracker(InferenceConfig(track_iou_pixels=0, track_reid=False), CATEGORIES)
    ids = []
    for t in range(10):
        x = 10 + 5 * t
        got = stable(tracker, [(x, 20, 20, 20), (54, 10, 16, 40)], t / 10)   # the second one is in front
        ids.append(got[0])
    assert None not in ids and len(set(ids)) == 1, ids


def test_new_tracks_start_with_the_camera_motion():
    """Everything moves 12 px per frame (a panning camera); an 8 px object appears at frame 3: with the established
    tracks' median velocity as its prior it is found again next frame (12 px = 1.5 sizes away: beyond the centre
    distance gate), with zero velocity it would get a new id."""
    tracker = PanopticTracker(InferenceConfig(track_iou_pixels=0, track_reid=False), CATEGORIES)
    seen = []
    for t in range(7):
        s = 12 * t
        rects = [(4 + s, 4, 10, 10), (4 + s, 24, 10, 10), (4 + s, 44, 10, 10)]
        if t >= 3:
            rects.append((30 + s, 30, 8, 8))
        seen.append(stable(tracker, rects, t / 10, w=240))
    new = [ids[3] for ids in seen[3:]]
    assert len(set(new)) == 1, new


def test_the_id_counter_wraps_after_max_id_with_a_reset(monkeypatch):
    monkeypatch.setattr(tracker_module, "MAX_ID", THING_ID_BASE + 3)
    tracker = PanopticTracker(InferenceConfig(track_iou_pixels=0, track_max_age=0.05, track_reid=False), CATEGORIES)
    got = []
    for t in range(5):   # one object per frame, each far from the last: a new id every frame
        got.append(stable(tracker, [(5 + 22 * t, 20, 12, 12)], t / 10)[0])
        if t == 3:
            assert "wrapped" in tracker.last_reset
    assert got == [THING_ID_BASE + 1, THING_ID_BASE + 2, THING_ID_BASE + 3, THING_ID_BASE + 1, THING_ID_BASE + 2]


def test_per_sequence_stq_is_the_geometric_mean():
    """Two videos with different AQ and SQ: each per-sequence STQ is sqrt(AQ x SQ), not their average."""
    ev = STQEvaluator(CATEGORIES)
    gt = np.full((8, 8), 6000, np.int32)
    gt[2:6, 2:6] = 1001
    gt_segs = [{"id": 6000, "category_id": 6}, {"id": 1001, "category_id": 1, "track_id": 1001}]
    for video, ids in (("a", (7, 7)), ("b", (7, 8))):
        for pid in ids:
            pred = gt.copy()
            pred[gt == 1001] = pid
            pred[0, :] = 0 if video == "b" else 6000      # b: some road pixels void (SQ < 1)
            ev.add(gt, gt_segs, pred, [{"id": 6000, "category_id": 6}, {"id": pid, "category_id": 1}],
                   sequence=video)
    per = ev.summarize()["per_sequence"]
    for name in ("a", "b"):
        m = per[name]
        assert m["stq"] == pytest.approx(np.sqrt(m["aq"] * m["sq"]))
    assert per["b"]["aq"] != pytest.approx(per["b"]["sq"])       # the two means differ here
    assert per["b"]["stq"] != pytest.approx((per["b"]["aq"] + per["b"]["sq"]) / 2)
