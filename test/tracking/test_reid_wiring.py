"""What the tracker hands to re-identification's decision rule (reid.match_costs, tested on its own in
test_reid_rule.py), caught with a spy around it: each lost track as a candidate (where it was last seen, where its
own motion takes it, the path it may have taken out of the view, time lost, size, motion) and each segment that
may be a returning object as a query (its centre, size, and its own motion: smoothed with the track's once that
is known), with the settings scaled to the image (a mutation run found this wiring unchecked: docs/mutation.md)."""
import numpy as np
import pytest
from tracking_frames import DISC, painted, rect_frame

from panoptic_ros.config import InferenceConfig
from panoptic_ros.data.synth import CATEGORIES
from panoptic_ros.tracking import PanopticTracker, reid
from panoptic_ros.tracking import tracker as tr

DT = 0.1
RED, BLUE = (220, 30, 30), (30, 30, 220)
H, W = 60, 120


@pytest.fixture
def calls(monkeypatch):
    """Every reid.match_costs call of the tracker: (queries, candidates, settings), copied."""
    seen = []
    real = reid.match_costs

    def spy(queries, candidates, settings):
        seen.append(tuple({k: np.array(v, copy=True) for k, v in d.items()} if d is not settings else dict(d)
                          for d in (queries, candidates, settings)))
        return real(queries, candidates, settings)
    monkeypatch.setattr(tr.reid, "match_costs", spy)
    return seen


ROAD_TEXTURE = np.random.default_rng(0).integers(0, 120, (H, W, 3), dtype=np.uint8)   # a still camera, measured


def run(tracker, frames):
    """frames: (t, [(rect, colour)]) on a textured road (the camera's estimate sees it still)."""
    for i, objects in frames:
        res = rect_frame([r for r, _ in objects], H, W)
        tracker.update(res, i * DT, image=painted(res, [c for _, c in objects], ROAD_TEXTURE))


def test_a_lost_track_is_offered_with_its_last_place_its_path_and_its_motion(calls):
    """A red 12 x 8 box moves 5 px per frame (50 px/s) in frames 0-3 and is gone (hidden) from frame 4; a blue
    square appears in frame 6. Candidate: last seen centred at (41, 24) at 0.3 s, its own motion for the 0.3 s
    since then takes it to (56, 24) (inside the view: the whole path from there is plausible), lost 0.3 s, size
    sqrt(12 x 8), 50 px/s; query: the new square's centre (75, 45), size 10, motion unknown (NaN); settings:
    min_size and min_speed scaled to the 120 px width."""
    tracker = PanopticTracker(InferenceConfig(track_iou_pixels=0), CATEGORIES)
    run(tracker, [(i, [((20 + 5 * i, 20, 12, 8), RED)]) for i in range(4)] + [(4, []), (5, [])])
    calls.clear()
    run(tracker, [(6, [((70, 40, 10, 10), BLUE)])])
    assert len(calls) == 1
    q, c, settings = calls[0]
    np.testing.assert_allclose(c["center"], [[56.0, 24.0]], atol=0.2)     # (the camera: measured still, to 0.1 px)
    np.testing.assert_allclose(c["origin"], [[41.0, 24.0]], atol=0.2)
    np.testing.assert_allclose(c["lost"], [0.3])
    np.testing.assert_allclose(c["size"], [np.sqrt(12 * 8)])
    np.testing.assert_allclose(c["velocity"], [[50.0, 0.0]], atol=1.0)
    assert c["category"].tolist() == [DISC] and c["border"].tolist() == [False] and np.isnan(c["depth"]).all()
    assert c["id"].tolist() == [tr.THING_ID_BASE + 1]
    assert q["category"].tolist() == [DISC] and q["border"].tolist() == [False] and np.isnan(q["depth"]).all()
    np.testing.assert_allclose(q["center"], [[75.0, 45.0]])
    np.testing.assert_allclose(q["size"], [10.0])
    assert np.isnan(q["velocity"]).all()
    assert settings["min_size"] == pytest.approx(tr.MIN_REID_SIZE * W)
    assert settings["min_speed"] == pytest.approx(tr.MIN_REID_SPEED * W)
    assert settings["similarity"] == 0.6 and settings["distance"] == 1.0


def test_a_track_that_left_the_view_is_offered_on_the_path_along_the_border_it_left_by(calls):
    """A square moving (+5, +2) px per frame leaves through the right border: its own motion still carries its
    predicted centre out of the view, but the path it may have taken back starts where it was last seen, moved
    only along that border (y), not into the image (x): it turned round and came back the same way."""
    tracker = PanopticTracker(InferenceConfig(track_iou_pixels=0), CATEGORIES)
    run(tracker, [(i, [((95 + 5 * i, 10 + 2 * i, 10, 10), RED)]) for i in range(4)] + [(4, []), (5, [])])
    t = tracker._table
    row = int(np.flatnonzero(t.id == tr.THING_ID_BASE + 1)[0])
    assert t.border[row]
    last, velocity, since = t.center[row].copy(), t.rel_velocity[row].copy(), 0.6 - t.mask_stamp[row]
    assert velocity[0] > 0 and velocity[1] > 0
    calls.clear()
    run(tracker, [(6, [((40, 40, 10, 10), BLUE)])])
    _, c, _ = calls[0]
    np.testing.assert_allclose(c["center"], [last + velocity * since], atol=0.2)
    np.testing.assert_allclose(c["origin"], [last + [0.0, velocity[1] * since]], atol=0.2)
    assert c["border"].tolist() == [True]


def test_a_young_tracks_motion_goes_with_it_smoothed_once_its_own_is_known(calls):
    """A blue square born in frame 0 moving 4 px per frame is compared with the lost red one again in frame 1
    (its second frame: motion measured, 40 px/s, as it is) and in frame 2, when it grew by REID_GROWTH (the
    motion then smoothed with the track's: 0.5 x 60 + 0.5 x 40 = 50 px/s); in frame 3 (no growth) it is not."""
    tracker = PanopticTracker(InferenceConfig(track_iou_pixels=0), CATEGORIES)
    run(tracker, [(i, [((20, 5, 10, 10), RED)]) for i in (-17, -16, -15)])   # lost 1.5 s before frame 0: remembered
    calls.clear()
    run(tracker, [(0, [((60, 30, 10, 10), BLUE)]), (1, [((64, 30, 10, 10), BLUE)]),
                  (2, [((70, 30, 10, 12), BLUE)]), (3, [((74, 30, 10, 12), BLUE)])])
    assert len(calls) == 3
    assert np.isnan(calls[0][0]["velocity"]).all()                      # frame 0: new, motion unknown
    np.testing.assert_allclose(calls[1][0]["velocity"], [[40.0, 0.0]], atol=1.0)
    np.testing.assert_allclose(calls[2][0]["velocity"], [[50.0, 10.0]], atol=1.0)  # the box grew 2 px downwards
    np.testing.assert_allclose(calls[2][0]["size"], [np.sqrt(10 * 12)])


def test_which_young_tracks_are_compared_with_the_lost_ones_again():
    """Born new (not re-identified) at most YOUNG_SECONDS ago, and in its first frames (age <= 1) or grown by more
    than REID_GROWTH since last compared (that size is then remembered)."""
    tracker = PanopticTracker(InferenceConfig(), CATEGORIES)
    t = tracker._table
    stamp = 10.0
    #              born_new, age since,               age, area, reid_area     -> compared again
    rows = [(True, reid.YOUNG_SECONDS, 1, 100, 100),   # first frames, just young enough -> yes
            (True, reid.YOUNG_SECONDS + 0.01, 1, 100, 100),   # too old -> no
            (False, 0.2, 1, 100, 100),                 # re-identified already -> no
            (True, 0.2, 2, 100, 100),                  # second frame seen before, no growth -> no
            (True, 0.2, 3, 116, 100),                  # grew more than 15 % -> yes
            (True, 0.2, 3, 114, 100)]                  # less -> no
    born, since, age, area, reid_area = (np.array(v) for v in zip(*rows))
    got = t.append(len(rows), [np.zeros(0, np.int32)] * len(rows), born_new=born, first_seen=stamp - since,
                   age=age, reid_area=reid_area)
    out = tracker._emerging(got, area, stamp)
    assert out.tolist() == [True, False, False, False, True, False]
    assert t.reid_area[got].tolist() == [100, 100, 100, 100, 116, 100]
