"""IDF1 / HOTA / AssA, re-identification rate and wrong merges on hand-built sequences with hand-computed values
(every boundary of the return definition hit exactly: stamps in 0.25 s steps); HOTA against TrackEval's own code
(requirements-reference.txt)."""
import numpy as np
import pytest

from panoptic_ros.evaluation import hota
from panoptic_ros.evaluation.idmetrics import IdentityMetrics


def feed_iou(frames, m=None, video="v"):
    """frames: list of (stamp, {gt: (pred or None, iou)}) into IdentityMetrics m (a new one by default)."""
    m = m or IdentityMetrics()
    for stamp, pairs in frames:
        gts = list(pairs)
        preds = sorted({p for p, _ in pairs.values() if p is not None})
        iou = np.array([[pairs[g][1] if pairs[g][0] == p else 0.0 for p in preds] for g in gts])
        m.add(video, stamp, gts, preds, iou.reshape(len(gts), len(preds)))
    return m


def feed(frames):
    """frames: list of (stamp, {gt: pred or None}) with IoU 1 for the listed pairs: the summary."""
    return feed_iou([(stamp, {g: (p, 1.0) for g, p in pairs.items()}) for stamp, pairs in frames]).summarize()


def test_perfect_tracking_scores_one():
    s = feed([(t / 10, {"a": 1, "b": 2}) for t in range(6)])
    assert s["idf1"] == pytest.approx(1.0) and s["hota"] == pytest.approx(1.0) and s["assa"] == pytest.approx(1.0)
    assert s["reid"]["returns"] == 0 and s["wrong_merges"]["ids"] == 0


def test_one_switch_halfway():
    """8 frames, the id changes after 4: IDF1 = 0.5; AssA = (4 x 4/8 + 4 x 4/8) / 8 = 0.5; DetA = 1."""
    s = feed([(t / 10, {"a": 1 if t < 4 else 2}) for t in range(8)])
    assert s["idf1"] == pytest.approx(0.5) and s["assa"] == pytest.approx(0.5) and s["deta"] == pytest.approx(1.0)
    assert s["hota"] == pytest.approx(np.sqrt(0.5)) and s["id_switches_motmetrics"] == 1
    # the counts IDF1 comes from, per video (2 x 4 / (2 x 4 + 4 + 4) = 0.5): what splits by video add up
    assert s["per_video"] == {"v": {"returns": 0, "reidentified": 0, "wrong_merges_at_return": 0,
                                    "idtp": 4, "idfp": 4, "idfn": 4}}


def test_returns_reidentified_and_wrong_merges():
    before = [(t / 10, {"a": 1, "b": 2}) for t in range(5)]
    gone = [(0.5 + t / 10, {"b": 2}) for t in range(15)]            # a absent 0.5 .. 1.9 s, b stays
    kept = feed(before + gone + [(2.0 + t / 10, {"a": 1, "b": 2}) for t in range(3)])
    assert kept["reid"] == {"returns": 1, "reidentified": 1, "rate": 1.0, "gap_s": [1.0, 5.0]}
    new = feed(before + gone + [(2.0 + t / 10, {"a": 3, "b": 2}) for t in range(3)])
    assert new["reid"]["reidentified"] == 0 and new["wrong_merges"]["at_return"] == 0
    merged = feed(before + [(0.5 + t / 10, {}) for t in range(15)] + [(2.0 + t / 10, {"a": 2}) for t in range(3)])
    assert merged["reid"]["returns"] == 1 and merged["reid"]["reidentified"] == 0
    assert merged["wrong_merges"] == {"at_return": 1, "at_return_fraction": 1.0, "ids": 1}
    # a short gap (0.5 s) is no return; a late id fix within 1 s of coming back counts as re-identified
    short = feed(before + [(0.5 + t / 10, {"b": 2}) for t in range(5)] + [(1.0, {"a": 1, "b": 2})])
    assert short["reid"]["returns"] == 0
    late = feed(before + gone + [(2.0, {"a": 3, "b": 2}), (2.1, {"a": 1, "b": 2}), (2.2, {"a": 1, "b": 2})])
    assert late["reid"]["reidentified"] == 1


def steps(start, stop, objects):
    """Frames every 0.25 s from start to stop (both included) with the same objects: stamps exact in binary, so
    the return definition's boundaries are hit exactly."""
    return [(start + 0.25 * k, dict(objects)) for k in range(int(round((stop - start) / 0.25)) + 1)]


B = {"b": (9, 1.0)}        # another object seen all along (keeps every frame non-empty)


@pytest.mark.parametrize("back, is_return", [(2.0, True), (6.0, True), (6.25, False)])
def test_a_return_is_a_gap_of_one_to_five_seconds_both_included(back, is_return):
    """Last seen at 1.0 s: back at 2.0 s (a 1 s gap) or 6.0 s (5 s) is a return, at 6.25 s not."""
    frames = steps(0.0, 1.0, {"a": (1, 1.0), **B}) + steps(1.25, back - 0.25, B) + steps(back, back + 1.5,
                                                                                          {"a": (1, 1.0), **B})
    s = feed_iou(frames).summarize()
    assert s["reid"]["returns"] == int(is_return) and s["reid"]["reidentified"] == int(is_return)


@pytest.mark.parametrize("matched_until, is_return", [(0.5, True), (0.25, False)])
def test_a_return_needs_a_match_within_a_second_before_it_went(matched_until, is_return):
    """Matched (id 0) until 0.5 s (exactly RETURN_WINDOW before it was last seen, at 1.5 s) or 0.25 s, then seen
    but not matched (IoU 0.3) until it went; back and matched at 3.0 s."""
    frames = steps(0.0, matched_until, {"a": (0, 1.0), **B}) + steps(matched_until + 0.25, 1.5, {"a": (0, 0.3), **B})
    frames += steps(1.75, 2.75, B) + steps(3.0, 4.5, {"a": (0, 1.0), **B})
    assert feed_iou(frames).summarize()["reid"]["returns"] == int(is_return)


@pytest.mark.parametrize("first_match, is_return", [(3.0, True), (3.25, False)])
def test_a_return_needs_a_match_within_a_second_after_it_came_back(first_match, is_return):
    """Gone 1.25-1.75 s... back at 2.0 s but first matched (IoU above 0.5; exactly 0.5 is no match) at 3.0 s
    (exactly RETURN_WINDOW later) or 3.25 s."""
    frames = steps(0.0, 0.75, {"a": (0, 1.0), **B}) + steps(1.0, 1.75, B)
    frames += steps(2.0, first_match - 0.25, {"a": (0, 0.5), **B}) + steps(first_match, 4.5, {"a": (0, 1.0), **B})
    assert feed_iou(frames).summarize()["reid"]["returns"] == int(is_return)


def test_an_id_fixed_exactly_a_second_after_coming_back_counts_as_kept():
    """Back at 2.0 s with another id (2), seen but not matched until its old id (1) is back at 3.0 s."""
    frames = steps(0.0, 0.75, {"a": (1, 1.0), **B}) + steps(1.0, 1.75, B)
    frames += [(2.0, {"a": (2, 1.0), **B})] + steps(2.25, 2.75, {"a": (2, 0.3), **B})
    frames += steps(3.0, 4.0, {"a": (1, 1.0), **B})
    assert feed_iou(frames).summarize()["reid"]["reidentified"] == 1


def test_a_second_return_within_the_first_ones_window_counts_both():
    """Back at 2.0 s with its id, gone again at once and back at 3.0 s (a 1 s gap: a return of its own, starting
    exactly when the first one's window ends): two returns, both kept."""
    frames = steps(0.0, 0.75, {"a": (1, 1.0), **B}) + steps(1.0, 1.75, B)
    frames += [(2.0, {"a": (1, 1.0), **B})] + steps(2.25, 2.75, B) + steps(3.0, 4.5, {"a": (1, 1.0), **B})
    s = feed_iou(frames).summarize()
    assert s["reid"]["returns"] == 2 and s["reid"]["reidentified"] == 2


def test_returns_add_up_over_objects_videos_and_merges():
    """Video v: a returns with its id, c with a new one; video w (its stamps start at 0 again, kept apart from v's):
    a returns with the id b had (a wrong merge). Over both: 3 returns, 1 kept, 1 wrong merge."""
    v = steps(0.0, 0.75, {"a": (1, 1.0), "c": (3, 1.0), **B}) + steps(1.0, 1.75, B)
    v += steps(2.0, 3.5, {"a": (1, 1.0), "c": (4, 1.0), **B})
    m = feed_iou(v)
    w = steps(0.0, 0.75, {"a": (1, 1.0), **B}) + steps(1.0, 1.75, B) + steps(2.0, 3.5, {"a": (9, 1.0)})
    s = feed_iou(w, m, video="w").summarize()
    assert s["reid"]["returns"] == 3 and s["reid"]["reidentified"] == 1
    assert s["reid"]["rate"] == pytest.approx(1 / 3)
    assert s["wrong_merges"]["at_return"] == 1 and s["wrong_merges"]["at_return_fraction"] == pytest.approx(1 / 3)
    assert s["wrong_merges"]["ids"] == 1
    per_video = {name: (v["returns"], v["reidentified"], v["wrong_merges_at_return"])
                 for name, v in s["per_video"].items()}
    assert per_video == {"v": (2, 1, 0), "w": (1, 0, 1)}
    # and each return on its own: a kept, c with a new id, and in w a with b's id
    events = {(e["video"], e["object"]): (e["back_s"], e["id_before"], e["id_after"], e["kept"], e["wrong_merge"])
              for e in s["return_events"]}
    assert events == {("v", "a"): (2.0, 1, 1, True, False), ("v", "c"): (2.0, 3, 4, False, False),
                      ("w", "a"): (2.0, 1, 9, False, True)}


def test_videos_are_kept_apart_and_merges_add_up():
    """a seen at 0-1 s in video v and at 2-3 s in video w is no return (another video); in video x two objects
    return with ids other objects held: two wrong merges at returns."""
    m = feed_iou(steps(0.0, 1.0, {"a": (1, 1.0), **B}))
    m = feed_iou(steps(2.0, 3.0, {"a": (1, 1.0), **B}), m, video="w")
    x = steps(0.0, 0.75, {"a": (1, 1.0), "c": (3, 1.0), "d": (4, 1.0), "e": (5, 1.0)})
    x += steps(1.0, 1.75, {"d": (4, 1.0), "e": (5, 1.0)}) + steps(2.0, 3.5, {"a": (4, 1.0), "c": (5, 1.0)})
    s = feed_iou(x, m, video="x").summarize()
    assert s["reid"]["returns"] == 2 and s["wrong_merges"]["at_return"] == 2


def test_an_iou_of_exactly_one_half_is_no_match_for_idf1():
    """Matched in frame 0 (IoU 1), IoU exactly 0.5 in frame 1: one of two frames identified, IDF1 = 1/2."""
    s = feed_iou([(0.0, {"a": (1, 1.0)}), (0.25, {"a": (1, 0.5)})]).summarize()
    assert s["idf1"] == pytest.approx(0.5)


def test_summary_of_perfect_and_of_empty_videos():
    s = feed_iou(steps(0.0, 1.0, {"a": (1, 1.0), **B})).summarize()
    assert s["idp"] == pytest.approx(1.0) and s["idr"] == pytest.approx(1.0) and s["loca"] == pytest.approx(1.0)
    empty = feed_iou([(0.0, {}), (0.25, {})]).summarize()        # nothing to identify: 0, not NaN
    assert empty["idf1"] == 0.0 and empty["idp"] == 0.0 and empty["idr"] == 0.0
    assert empty["reid"]["returns"] == 0 and np.isnan(empty["reid"]["rate"])


HOTA_FIELDS = ("HOTA_TP", "HOTA_FN", "HOTA_FP", "DetA", "AssA", "AssRe", "AssPr", "LocA", "HOTA")


def _random_sequence(rng, ng, npred, length):
    frames = []
    for _t in range(length):
        g = np.sort(rng.choice(ng, rng.integers(0, ng + 1), replace=False))
        p = np.sort(rng.choice(npred, rng.integers(0, npred + 1), replace=False))
        sim = rng.random((len(g), len(p))) * (rng.random((len(g), len(p))) < 0.4)
        frames.append((g, p, sim))
    return frames


def _trackeval_data(frames, ng, npred):
    return {"num_gt_ids": ng, "num_tracker_ids": npred, "num_gt_dets": sum(len(f[0]) for f in frames),
            "num_tracker_dets": sum(len(f[1]) for f in frames), "gt_ids": [f[0] for f in frames],
            "tracker_ids": [f[1] for f in frames], "similarity_scores": [f[2] for f in frames]}


def test_hota_equals_trackeval_on_random_sequences():
    """Every per-alpha field, per sequence and combined over sequences, on long and short random sequences (ids
    seen in one frame only: the association's denominators at 1) and on sequences without any prediction or
    without any ground truth (TrackEval's early returns)."""
    trackeval = pytest.importorskip("trackeval")
    rng = np.random.default_rng(0)
    none = np.zeros(0, np.int64)
    sequences = [(_random_sequence(rng, 6, 8, 20), 6, 8) for _ in range(5)]
    sequences += [(_random_sequence(rng, 3, 3, 2), 3, 3) for _ in range(5)]
    sequences += [([(np.array([0, 1]), none, np.zeros((2, 0))), (np.array([1]), none, np.zeros((1, 0)))], 2, 0),
                  ([(none, np.array([0]), np.zeros((0, 1)))] * 3, 0, 1),
                  ([(none, np.array([0]), np.zeros((0, 1)))], 0, 1),                  # one prediction in all
                  ([(np.array([0]), np.array([0]), np.array([[hota.ALPHAS[9]]]))], 1, 1)]    # on an alpha exactly
    metric = trackeval.metrics.HOTA()
    ours, refs = [], {}
    for n, (frames, ng, npred) in enumerate(sequences):
        ours.append(hota.hota_sequence(frames, ng, npred))
        refs[str(n)] = metric.eval_sequence(_trackeval_data(frames, ng, npred))
        for k in HOTA_FIELDS:
            np.testing.assert_allclose(ours[-1][k], refs[str(n)][k], atol=1e-12, err_msg=f"sequence {n}: {k}")
    combined, ref = hota.combine(ours), metric.combine_sequences(refs)
    for k in HOTA_FIELDS:
        np.testing.assert_allclose(combined[k], ref[k], atol=1e-12, err_msg=f"combined: {k}")
    single = {"0": refs[str(len(sequences) - 1)]}          # one match: counts of 1 in every denominator
    for k in HOTA_FIELDS:
        np.testing.assert_allclose(hota.combine(ours[-1:])[k], metric.combine_sequences(single)[k], atol=1e-12)
    assert ours[-1]["HOTA_TP"][9] == 1 and ours[-1]["DetA"][0] == 1.0
