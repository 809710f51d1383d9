"""PanopticTracker: id layout, stable ids through motion, crossing, dropped frames, resets, expiry, scale."""

import numpy as np
import pytest
import torch

from panoptic_ros.config import InferenceConfig
from panoptic_ros.data.synth import CATEGORIES, render_sequence
from panoptic_ros.evaluation.stq import STQEvaluator
from panoptic_ros.panoptic.result import PanopticResult
from panoptic_ros.tracking import THING_ID_BASE, PanopticTracker, stuff_id

DISC, BOX, ROAD = 0, 1, 5     # channel indices of the synthetic categories


def result_of(id_map, channel_of, seed=0):
    """A fuse()-style PanopticResult: the map's objects renumbered 1..K in a random order (ids mean nothing)."""
    ids = [int(v) for v in np.unique(id_map) if v != 0]
    new = np.random.default_rng(seed).permutation(len(ids)) + 1
    pan = np.zeros(id_map.shape, np.int32)
    segments = []
    for old, nid in zip(ids, new.tolist()):
        ys, xs = np.nonzero(id_map == old)
        pan[ys, xs] = nid
        ch = channel_of(old)
        segments.append({"id": nid, "category_id": ch, "isthing": bool(CATEGORIES.category(ch).isthing),
                         "score": 0.9, "bbox": [int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1],
                         "area": len(ys)})
    return PanopticResult(torch.from_numpy(pan), sorted(segments, key=lambda s: s["id"]))


def squares(size, boxes, h=60, w=120):
    """Road everywhere, plus squares {gt id: (x, y, class channel)} of side `size`."""
    m = np.full((h, w), 1, np.int32)
    for gid, (x, y, _) in boxes.items():
        m[max(y, 0):y + size, max(x, 0):x + size] = gid
    chans = {1: ROAD, **{gid: ch for gid, (_, _, ch) in boxes.items()}}
    return m, chans.__getitem__


def tracked_ids(tracker, id_map, channel_of, stamp, seed=0):
    """gt id -> stable id of one frame."""
    out = tracker.update(result_of(id_map, channel_of, seed), stamp)
    pan = out.panoptic.numpy()
    assert {s["id"] for s in out.segments} == set(np.unique(pan).tolist()) - {0}
    return {int(g): int(np.bincount(pan[id_map == g]).argmax()) for g in np.unique(id_map) if g != 0}, out


def test_id_layout_and_stable_ids_of_moving_objects():
    tracker = PanopticTracker(InferenceConfig(), CATEGORIES)
    seen = []
    for t in range(6):
        m, ch = squares(12, {10: (5 + 4 * t, 10, DISC), 11: (90 - 5 * t, 30, DISC), 12: (40, 40, BOX)})
        ids, out = tracked_ids(tracker, m, ch, stamp=0.1 * t, seed=t)
        seen.append(ids)
        things = [s for s in out.segments if s["isthing"]]
        assert all(s["track_age"] == t + 1 and s["first_seen"] == 0.0 for s in things)
        assert all("track_age" not in s for s in out.segments if not s["isthing"])
    assert all(ids == seen[0] for ids in seen)
    assert seen[0][1] == stuff_id(ROAD) == ROAD + 1
    assert sorted(seen[0][g] for g in (10, 11, 12)) == [THING_ID_BASE + 1, THING_ID_BASE + 2, THING_ID_BASE + 3]


def test_input_is_not_changed_and_device_and_dtype_are_kept():
    m, ch = squares(10, {10: (5, 5, DISC)})
    res = result_of(m, ch)
    before = (res.panoptic.clone(), [dict(s) for s in res.segments])
    out = PanopticTracker(InferenceConfig(), CATEGORIES).update(res, 0.0)
    assert torch.equal(res.panoptic, before[0]) and res.segments == before[1]
    assert out.panoptic.dtype == torch.int32 and out.panoptic.shape == res.panoptic.shape


def test_dropped_frames_need_the_motion_prediction():
    """A 10 px square moving 4 px per frame, then seen every 4th frame: 16 px jumps, no overlap with its last mask."""
    def run(motion):
        tracker = PanopticTracker(InferenceConfig(track_motion=motion, track_iou_pixels=0), CATEGORIES)
        ids = []
        for t in (0, 1, 2, 6, 10, 14, 18):
            m, ch = squares(10, {10: (2 + 4 * t, 20, DISC)})
            ids.append(tracked_ids(tracker, m, ch, stamp=t / 30)[0][10])
        return ids
    assert len(set(run(True))) == 1
    assert len(set(run(False))) == 5       # a new id after every jump


def test_crossing_objects_of_one_class_keep_their_ids():
    """Two discs on converging paths pass through the same place; the one behind is hidden for a few frames."""
    tracker = PanopticTracker(InferenceConfig(track_iou_pixels=0), CATEGORIES)
    first = None
    for t in range(16):
        m, ch = squares(12, {10: (10 + 6 * t, 24, DISC), 11: (100 - 6 * t, 24, DISC)})  # 11 is drawn on top
        ids, _ = tracked_ids(tracker, m, ch, stamp=t / 10, seed=t)
        first = first or ids
        for g in ids:
            assert ids[g] == first[g], (t, ids, first)


def test_class_gate_expiry_and_ids_never_reused():
    cfg = InferenceConfig(track_max_age=0.25)
    tracker = PanopticTracker(cfg, CATEGORIES)
    m, ch = squares(12, {10: (20, 20, DISC)})
    a = tracked_ids(tracker, m, ch, 0.0)[0][10]
    m_box, ch_box = squares(12, {10: (20, 20, BOX)})
    b = tracked_ids(tracker, m_box, ch_box, 0.1)[0][10]          # same place, other class: another object
    empty, ch0 = squares(12, {})
    tracker.update(result_of(empty, ch0), 0.2)
    c = tracked_ids(tracker, m, ch, 0.3)[0][10]                   # disc unseen for 0.3 s > 0.25 s: ended
    assert len({a, b, c}) == 3 and a < b < c
    d = tracked_ids(tracker, m, ch, 0.5)[0][10]                   # unseen for 0.2 s: continues
    assert d == c


def test_backwards_stamp_resets_and_reports_the_reason():
    tracker = PanopticTracker(InferenceConfig(), CATEGORIES)
    m, ch = squares(12, {10: (20, 20, DISC)})
    a = tracked_ids(tracker, m, ch, 5.0)[0][10]
    assert tracker.last_reset is None
    b, out = tracked_ids(tracker, m, ch, 1.0)
    assert "backwards" in tracker.last_reset and "5.000" in tracker.last_reset
    assert b[10] > a and out.segment(b[10])["track_age"] == 1 and out.segment(b[10])["first_seen"] == 1.0
    tracked_ids(tracker, m, ch, 1.1)
    assert tracker.last_reset is None
    tracker.reset("model changed")
    assert tracker.num_tracks == 0 and tracked_ids(tracker, m, ch, 1.2)[0][10] > b[10]
    with pytest.raises(ValueError, match="finite"):
        tracker.update(result_of(m, ch), float("nan"))


def test_ground_truth_sequence_keeps_every_id():
    """Perfect segments renumbered at random each frame, camera panning, crossing, occlusion, entering/leaving:
    every pair of consecutive appearances keeps its id; also with 2 of every 3 frames dropped."""
    frames = list(render_sequence(11, 30, 160, 120, fps=10, pan=6.0, objects=10))
    for step in (1, 3):
        tracker = PanopticTracker(InferenceConfig(track_max_age=0.5), CATEGORIES)
        ev = STQEvaluator(CATEGORIES)
        for f in frames[::step]:
            res = result_of(f.id_map, lambda sid: CATEGORIES.index(sid // 1000), seed=f.index)
            out = tracker.update(res, f.stamp)
            pan = out.panoptic.numpy()
            segs = [{"id": s["id"], "category_id": CATEGORIES.category(s["category_id"]).id} for s in out.segments]
            ev.add(f.id_map, f.segments, pan, segs)
        m = ev.summarize()
        assert m["id_keep"]["pairs"] >= 50 and m["id_keep"]["fraction"] == 1.0, (step, m["id_keep"])
        assert m["aq"] > 0.9 and m["sq"] == 1.0


def test_fifty_objects_at_640x480_keep_their_ids():
    """The cost benchmark's scale (`panoptic bench tracking` measures the time; no test asserts speed): 50 squares
    of two classes in a 10 x 5 grid, all moving 3 px per frame, renumbered every frame, with an image (appearance
    and camera estimate on): every object keeps one id of its own in every frame."""
    boxes = {10 + k: (20 + 60 * (k % 10), 20 + 90 * (k // 10), DISC if k % 2 else BOX) for k in range(50)}
    tracker = PanopticTracker(InferenceConfig(), CATEGORIES)
    rng = np.random.default_rng(0)
    colours = {g: rng.integers(0, 256, 3, dtype=np.uint8) for g in boxes}
    seen = []
    for t in range(8):
        moved = {g: (x + 3 * t, y, c) for g, (x, y, c) in boxes.items()}
        mm, ch = squares(36, moved, 480, 640)
        image = np.zeros((480, 640, 3), np.uint8)
        for g, colour in colours.items():
            image[mm == g] = colour
        out = tracker.update(result_of(mm, ch, seed=t), t / 30, image=image)
        pan = out.panoptic.numpy()
        seen.append({g: set(np.unique(pan[mm == g]).tolist()) for g in boxes})
    for ids in seen:
        assert all(len(v) == 1 for v in ids.values())
    first = {g: next(iter(v)) for g, v in seen[0].items()}
    assert len(set(first.values())) == 50 and min(first.values()) > THING_ID_BASE
    assert all({g: next(iter(v)) for g, v in ids.items()} == first for ids in seen)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_results_stay_on_the_gpu():
    m, ch = squares(12, {10: (20, 20, DISC)})
    res = result_of(m, ch)
    tracker = PanopticTracker(InferenceConfig(), CATEGORIES)
    out = tracker.update(PanopticResult(res.panoptic.cuda(), res.segments), 0.0)
    assert out.panoptic.is_cuda
    cpu = PanopticTracker(InferenceConfig(), CATEGORIES).update(res, 0.0)
    assert torch.equal(out.panoptic.cpu(), cpu.panoptic)


def test_fast_small_object_is_followed_from_its_second_frame_and_far_jumps_are_new_objects():
    """An 8 px square moving 10 px per frame never overlaps its last mask: the centre-distance stage links its
    first two frames, the velocity the rest. An object of the class appearing far away is a new one."""
    tracker = PanopticTracker(InferenceConfig(track_iou_pixels=0), CATEGORIES)
    ids = [tracked_ids(tracker, *squares(8, {10: (4 + 10 * t, 20, DISC)}), stamp=t / 10)[0][10] for t in range(8)]
    assert len(set(ids)) == 1
    far = tracked_ids(tracker, *squares(8, {11: (10, 45, DISC)}), stamp=0.8)[0][11]
    assert far != ids[0]
