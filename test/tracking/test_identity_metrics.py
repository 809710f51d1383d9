"""IDF1 / HOTA / AssA, re-identification rate and wrong merges on hand-built sequences with hand-computed values;
HOTA against TrackEval's own code when trackeval is importable."""
import numpy as np
import pytest

from panoptic_ros.evaluation import hota
from panoptic_ros.evaluation.idmetrics import IdentityMetrics


def feed(frames):
    """frames: list of (stamp, {gt: pred or None}) with IoU 1 for the listed pairs."""
    m = IdentityMetrics()
    for stamp, pairs in frames:
        gts = list(pairs)
        preds = sorted({p for p in pairs.values() if p is not None})
        iou = np.array([[1.0 if pairs[g] == p else 0.0 for p in preds] for g in gts]).reshape(len(gts), len(preds))
        m.add("v", stamp, gts, preds, iou)
    return m.summarize()


def test_perfect_tracking_scores_one():
    s = feed([(t / 10, {"a": 1, "b": 2}) for t in range(6)])
    assert s["idf1"] == pytest.approx(1.0) and s["hota"] == pytest.approx(1.0) and s["assa"] == pytest.approx(1.0)
    assert s["reid"]["returns"] == 0 and s["wrong_merges"]["ids"] == 0


def test_one_switch_halfway():
    """8 frames, the id changes after 4: IDF1 = 0.5; AssA = (4 x 4/8 + 4 x 4/8) / 8 = 0.5; DetA = 1."""
    s = feed([(t / 10, {"a": 1 if t < 4 else 2}) for t in range(8)])
    assert s["idf1"] == pytest.approx(0.5) and s["assa"] == pytest.approx(0.5) and s["deta"] == pytest.approx(1.0)
    assert s["hota"] == pytest.approx(np.sqrt(0.5)) and s["id_switches_motmetrics"] == 1


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
                  ([(none, np.array([0]), np.zeros((0, 1)))] * 3, 0, 1)]
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
