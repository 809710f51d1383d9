"""Re-identification: lost objects take their old id back on a confident match, and only then (class, colour,
predicted position with the camera's motion, depth, ambiguity between look-alikes, memory age)."""
import numpy as np
import pytest
import torch

from panoptic_ros.config import InferenceConfig
from panoptic_ros.data.synth import CATEGORIES, ReidOptions, render_sequence
from panoptic_ros.evaluation.stq import STQEvaluator
from panoptic_ros.panoptic.result import PanopticResult
from panoptic_ros.tracking import PanopticTracker

DISC, BOX, ROAD = 0, 1, 5
RED, GREEN, GREY = (200, 40, 40), (40, 180, 60), (110, 110, 115)


def scene(objects, h=120, w=240):
    """Road + squares {gt id: (x, y, channel, colour[, side])}, side 16 unless given: (PanopticResult with ids
    renumbered, image)."""
    pan = np.zeros((h, w), np.int32)
    image = np.empty((h, w, 3), np.uint8)
    image[:] = GREY
    pan[:] = 1
    segments = [{"id": 1, "category_id": ROAD, "isthing": False, "score": 1.0, "bbox": [0, 0, w, h], "area": h * w}]
    for k, (_gid, (x, y, ch, colour, *side)) in enumerate(sorted(objects.items())):
        n = side[0] if side else 16
        pan[y:y + n, x:x + n] = k + 2
        image[y:y + n, x:x + n] = colour
        segments.append({"id": k + 2, "category_id": ch, "isthing": True, "score": 0.9, "bbox": [x, y, n, n],
                         "area": n * n})
    return PanopticResult(torch.from_numpy(pan), segments), image


def ids_of(out):
    """{(x, y) of each thing's box: (stable id, id_source)}."""
    return {tuple(s["bbox"][:2]): (s["id"], s["id_source"]) for s in out.segments if s["isthing"]}


def run(frames, cfg=None, depth=None, with_image=True):
    """frames: list of (stamp, objects); returns the ids_of every frame."""
    tracker = PanopticTracker(cfg or InferenceConfig(track_iou_pixels=0), CATEGORIES)
    out = []
    for stamp, objects in frames:
        res, image = scene(objects)
        d = depth(stamp, objects) if depth else None
        out.append(ids_of(tracker.update(res, stamp, image=image if with_image else None, depth=d)))
    return out


def gone_and_back(back_at=(100, 50), colour=RED, channel=DISC, gap=2.0, others=()):
    """A disc seen for 0.5 s at (100, 50), gone for `gap` s, then seen at back_at (static camera)."""
    frames = [(t / 10, {10: (100, 50, DISC, RED), **dict(others)}) for t in range(6)]
    frames += [(0.5 + t / 10, dict(others)) for t in range(1, int(gap * 10))]
    frames += [(0.5 + gap + t / 10, {11: (*back_at, channel, colour), **dict(others)}) for t in range(3)]
    return frames


def test_an_object_back_after_two_seconds_takes_its_old_id_and_says_so():
    seen = run(gone_and_back())
    first, back = seen[0][(100, 50)], seen[-3][(100, 50)]
    assert first[1] == "new" and seen[1][(100, 50)] == (first[0], "continued")
    assert back == (first[0], "reidentified")
    assert seen[-1][(100, 50)] == (first[0], "continued")
    off = run(gone_and_back(), InferenceConfig(track_iou_pixels=0, track_reid=False))
    assert off[-3][(100, 50)][0] != off[0][(100, 50)][0] and off[-3][(100, 50)][1] == "new"


@pytest.mark.parametrize("change", ["class", "colour", "far", "too_late", "no_image"])
def test_no_old_id_without_a_confident_match(change):
    frames = gone_and_back(**{"class": {"channel": BOX}, "colour": {"colour": GREEN}, "far": {"back_at": (200, 90)},
                              "too_late": {"gap": 4.0}}.get(change, {}))
    cfg = InferenceConfig(track_iou_pixels=0, track_reid_age=3.0 if change == "too_late" else 6.0)
    seen = run(frames, cfg, with_image=change != "no_image")
    old = seen[0][(100, 50)][0]
    back = next(iter(seen[-3].values()))
    assert back[0] != old and back[1] == "new", change


def test_look_alikes_near_the_prediction_of_both_get_a_new_id():
    """Two identical discs 80 px apart vanish; one comes back between them: ambiguous, so a new id (a wrong merge
    is worse); one coming back where only one of them was gets that one's id."""
    two = {10: (100, 50, DISC, RED), 12: (180, 50, DISC, RED)}
    lost = [(t / 10, two) for t in range(6)] + [(0.5 + t / 10, {}) for t in range(1, 20)]
    between = run(lost + [(2.5, {11: (140, 50, DISC, RED)})])
    assert between[-1][(140, 50)][1] == "new"
    at_one = run(lost + [(2.5, {11: (180, 50, DISC, RED)})])
    assert at_one[-1][(180, 50)] == (at_one[0][(180, 50)][0], "reidentified")


def test_the_camera_motion_moves_the_prediction():
    """The camera pans 6 px per frame (three static discs drift left); a box hidden for 1.5 s comes back 90 px to
    the left of where it went, where the panning put it; without the camera's motion it would be 3 radii off."""
    def frame(t, box_visible):
        shift = -6 * t
        objs = {20 + i: (150 + 20 * i + shift, 10, DISC, RED) for i in range(3)}
        objs = {g: v for g, v in objs.items() if v[0] >= 0}
        if box_visible:
            objs[10] = (200 + shift, 80, BOX, GREEN)
        return t / 10, objs
    frames = [frame(t, t < 5 or t >= 20) for t in range(22)]
    seen = run(frames, InferenceConfig(track_iou_pixels=0, track_reid_distance=0.5))
    assert seen[20][(200 - 120, 80)] == (seen[4][(200 - 24, 80)][0], "reidentified")


def test_depth_gate():
    """Same place, colour and class, but twice as far: with depth a new id, without depth the old one."""
    def depth(stamp, objects):
        d = np.full((120, 240), 5.0, np.float32)
        for x, y, *_ in objects.values():
            d[y:y + 16, x:x + 16] = 2.0 if stamp < 1 else 4.0
        return d
    assert run(gone_and_back(), depth=depth)[-3][(100, 50)][1] == "new"
    assert run(gone_and_back(), depth=lambda s, o: np.full((120, 240), 2.0, np.float32))[-3][(100, 50)][1] == \
        "reidentified"


def test_a_short_lived_false_segment_is_no_rival():
    """While a disc is in view, a look-alike flickers for `seen` frames 20 px beside it (a network's false segment).
    Seen in fewer than track_reid_min_frames frames, it is not remembered, and the disc, back after 2 s, takes its
    old id; seen in as many, it is a look-alike rival as near as the disc's own place, so the return is ambiguous."""
    def frames(seen):
        out = gone_and_back()
        for i in range(1, 1 + seen):
            out[i] = (out[i][0], {**out[i][1], 12: (120, 50, DISC, RED)})
        return out
    for seen, expected in ((2, "reidentified"), (3, "new")):
        assert run(frames(seen))[-3][(100, 50)][1] == expected, seen
    assert run(frames(2), InferenceConfig(track_iou_pixels=0, track_reid_min_frames=2))[-3][(100, 50)][1] == "new"
    # not even remembered; and one remembered under another setting is no candidate under this one (run time)
    for min_frames, remembered in ((3, 1), (1, 2)):
        tracker = PanopticTracker(InferenceConfig(track_iou_pixels=0, track_reid_min_frames=min_frames), CATEGORIES)
        ids = []
        for stamp, objects in frames(2):
            if stamp == pytest.approx(2.0):          # both have ended; the disc comes back at 2.5 s
                assert tracker.num_remembered == remembered, min_frames
                tracker.configure(InferenceConfig(track_iou_pixels=0))
            res, image = scene(objects)
            ids.append(ids_of(tracker.update(res, stamp, image=image)))
        assert ids[-3][(100, 50)] == (ids[0][(100, 50)][0], "reidentified"), min_frames


def test_memory_is_bounded_and_cleared_by_a_reset():
    tracker = PanopticTracker(InferenceConfig(track_iou_pixels=0, track_max_age=0.1, track_reid_memory=2,
                                              track_reid_min_frames=1), CATEGORIES)
    colours = [RED, GREEN, (40, 40, 200), (200, 200, 40), (40, 200, 200)]
    for t in range(5):   # five discs of different colours, one per frame, each seen once at a different place
        res, image = scene({10 + t: (10 + 40 * t, 10, DISC, colours[t])})
        tracker.update(res, t / 2, image=image)
        assert tracker.num_remembered == min(t, 2)       # t discs have ended: the oldest beyond 2 are dropped
    assert tracker.num_remembered == 2
    tracker.reset("test")
    assert tracker.num_remembered == 0 and tracker.num_tracks == 0


def _identity(frames, cfg):
    tracker = PanopticTracker(cfg, CATEGORIES)
    ev = STQEvaluator(CATEGORIES)
    for f in frames:
        ids = [s["id"] for s in f.segments]
        lut = np.zeros(int(f.id_map.max()) + 1, np.int32)
        segs = []
        for k, s in enumerate(f.segments):   # the ground truth renumbered 1..K (ids mean nothing)
            lut[s["id"]] = k + 1
            ch = CATEGORIES.index(s["category_id"])
            segs.append({"id": k + 1, "category_id": ch, "isthing": bool(CATEGORIES.category(ch).isthing),
                         "score": 1.0, "bbox": list(s["bbox"]), "area": int(s["area"])})
        assert len(ids) == len(segs)
        out = tracker.update(PanopticResult(torch.from_numpy(lut[f.id_map]), segs), f.stamp, image=f.image)
        coco = [{"id": s["id"], "category_id": CATEGORIES.category(s["category_id"]).id} for s in out.segments]
        ev.add(f.id_map, f.segments, out.panoptic.numpy(), coco, stamp=f.stamp)
    return ev.summarize()


def test_synthetic_video_with_pan_back_walls_and_reentering_objects():
    """Perfect segments of a synthetic re-id video: most returning objects get their old id, none takes another's;
    identity metrics rise over the tracker without re-identification."""
    frames = list(render_sequence(7, 90, 320, 240, pan=6.0, reid=ReidOptions(pan_back=3.0, reenter=3, occluders=2)))
    on = _identity(frames, InferenceConfig())
    off = _identity(frames, InferenceConfig(track_reid=False))
    r_on, r_off = on["identity"]["reid"], off["identity"]["reid"]
    assert r_on["returns"] >= 4 and r_on["returns"] == r_off["returns"]
    assert r_on["rate"] >= 0.75 and r_off["rate"] == 0.0, (r_on, r_off)
    assert on["identity"]["wrong_merges"]["at_return"] == 0
    assert on["identity"]["idf1"] > off["identity"]["idf1"] + 0.05 and on["aq"] > off["aq"] + 0.05
    assert on["id_keep"]["fraction"] >= 0.99


def test_a_track_unseen_for_a_while_is_not_continued_by_distance_alone():
    """With re-identification, an object hidden for 0.5 s (its track still live) is not continued, by centre
    distance alone, by a different-looking object of its class appearing next to where it was: appearance decides
    (a new id). Without the image (no re-identification) the distance stage continues it, as before."""
    frames = [(t / 10, {10: (100, 50, DISC, RED)}) for t in range(5)]
    frames += [(0.4 + t / 10, {}) for t in range(1, 5)]
    frames += [(0.9, {11: (114, 50, DISC, GREEN)})]
    with_reid = run(frames)
    assert with_reid[-1][(114, 50)][0] != with_reid[0][(100, 50)][0]
    without = run(frames, with_image=False)
    assert without[-1][(114, 50)][0] == without[0][(100, 50)][0]


def test_a_reidentified_object_keeps_its_frame_count_and_first_stamp():
    tracker = PanopticTracker(InferenceConfig(track_iou_pixels=0), CATEGORIES)
    for stamp, objects in gone_and_back():
        res, image = scene(objects)
        out = tracker.update(res, stamp, image=image)
    (thing,) = [s for s in out.segments if s["isthing"]]
    # seen 6 frames, then back for 3 (the first of them re-identified): one track of 9 frames since stamp 0
    assert thing["id_source"] == "continued" and thing["track_age"] == 9 and thing["first_seen"] == 0.0
    assert tracker.num_tracks == 1 and tracker.num_remembered == 0


def test_an_object_first_seen_as_a_sliver_takes_its_old_id_once_it_shows_itself():
    """Back after 2 s as a 5 px sliver (too small to compare: a new id), then whole: the young track hands its state
    to the old one, which keeps its id, frame count and first stamp; the sliver's id is given up, not reused."""
    tracker = PanopticTracker(InferenceConfig(track_iou_pixels=0), CATEGORIES)
    for stamp, objects in gone_and_back()[:-3]:                          # seen 6 frames from 0.0, then gone
        res, image = scene(objects)
        tracker.update(res, stamp, image=image)
    res, image = scene({11: (100, 50, DISC, RED, 5)})                    # a 5 px sliver
    (young,) = [s for s in tracker.update(res, 2.5, image=image).segments if s["isthing"]]
    assert young["id_source"] == "new"
    seen = []
    for stamp in (2.6, 2.7):
        res, image = scene({11: (100, 50, DISC, RED)})
        (thing,) = [s for s in tracker.update(res, stamp, image=image).segments if s["isthing"]]
        seen.append((thing["id"], thing["id_source"], thing["track_age"], thing["first_seen"]))
    old = young["id"] - 1                                                # the first id this tracker gave
    assert seen == [(old, "reidentified", 8, 0.0), (old, "continued", 9, 0.0)]   # 6 frames + the sliver + this
    assert tracker.num_tracks == 1 and tracker.num_remembered == 0 and young["id"] not in tracker._table.id


def test_a_later_better_fit_takes_a_revived_id_back():
    """A disc leaves; 2 s later a look-alike appears 30 px from where it was (the only candidate: it is revived
    with the disc's id), and 0.3 s after that the disc comes back where it was. Within track_reid_handback the disc
    fits its lost track clearly better (by track_reid_margin) than the look-alike did, so it takes its id back and
    the look-alike gets a new one; after that time, with 0 (also set at run time), for a second look-alike that
    fits no better, or when the revived track's own segment is now about as good a fit, the revival is final and
    the newcomer gets a new id."""
    def frames(newcomer=(100, 50)):
        both = {11: (100, 80, DISC, RED), 12: (*newcomer, DISC, RED)}
        return gone_and_back(back_at=(100, 80)) + [(2.8 + t / 10, both) for t in range(3)]

    def check(seen, handed_back, newcomer=(100, 50)):
        old = seen[0][(100, 50)][0]
        assert seen[6 + 19][(100, 80)] == (old, "reidentified")               # the look-alike, at 2.5 s
        back, look_alike = seen[-3][newcomer], seen[-3][(100, 80)]
        if handed_back:
            assert back == (old, "reidentified") and look_alike[1] == "new" and look_alike[0] != old
        else:
            assert back[1] == "new" and back[0] != old and look_alike == (old, "continued")
        assert seen[-1][newcomer] == (back[0], "continued") and seen[-1][(100, 80)] == (look_alike[0], "continued")
        assert all(len({i for i, _ in f.values()}) == len(f) for f in seen)      # never one id on two segments

    base = InferenceConfig(track_iou_pixels=0)
    check(run(frames()), handed_back=True)
    check(run(frames(), InferenceConfig(track_iou_pixels=0, track_reid_handback=0.0)), handed_back=False)
    check(run(frames(), InferenceConfig(track_iou_pixels=0, track_reid_handback=0.2)), handed_back=False)
    check(run(frames((100, 20))), handed_back=False, newcomer=(100, 20))      # 30 px off too: no better fit
    # the look-alike moves up to 12 px from the disc's place, and a newcomer appears 6 px from it on the other
    # side: it fits the disc's former state better than the look-alike's revival did, but the look-alike's own
    # segment is now about as good a fit (a rival), so nothing is handed back
    drift = gone_and_back(back_at=(100, 80))[:-2] + [(2.5 + t / 10, {11: (100, 80 - 6 * t, DISC, RED)})
                                                     for t in range(1, 4)]
    drift += [(2.9 + t / 10, {11: (100, 62, DISC, RED), 12: (100, 44, DISC, RED)}) for t in range(3)]
    seen = run(drift)
    old = seen[0][(100, 50)][0]
    assert seen[25][(100, 80)] == (old, "reidentified")                      # the look-alike, at 2.5 s
    assert seen[-3][(100, 62)] == (old, "continued") and seen[-3][(100, 44)][1] == "new"
    tracker, seen = PanopticTracker(base, CATEGORIES), []
    for stamp, objects in frames():
        if stamp == pytest.approx(2.7):
            assert tracker.num_remembered == 0          # (the revived track's former state is no memory entry)
            tracker.configure(InferenceConfig(track_iou_pixels=0, track_reid_handback=0.0))
        res, image = scene(objects)
        seen.append(ids_of(tracker.update(res, stamp, image=image)))
    check(seen, handed_back=False)
