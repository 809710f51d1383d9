"""HOTA (Luiten et al., "HOTA: A Higher Order Metric for Evaluating Multi-Object Tracking", IJCV 2021): DetA,
AssA, HOTA, averaged over the localisation thresholds 0.05 .. 0.95, as TrackEval computes them.

Why a re-statement and not TrackEval: trackeval 1.3.0 (its PyPI release) requires the opencv-python distribution,
which cannot sit next to this project's opencv-python-headless; its HOTA is 60 lines of numpy and scipy, restated
here line for line (``trackeval/metrics/hota.py``: eval_sequence and combine_sequences) and checked against
trackeval 1.3.0 on random sequences (docs/tracking.md). The similarity is the mask IoU of same-class segments.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

ALPHAS = np.arange(0.05, 0.99, 0.05)
_EPS = np.finfo("float").eps


def hota_sequence(frames: list[tuple[np.ndarray, np.ndarray, np.ndarray]], num_gt: int, num_pred: int) -> dict:
    """One sequence. frames: (gt ids [G] ints 0..num_gt-1, pred ids [P] ints 0..num_pred-1, similarity [G, P]).
    Returns the per-alpha arrays "HOTA_TP", "HOTA_FN", "HOTA_FP", "AssA", "AssRe", "AssPr", "LocA" and "DetA",
    "HOTA" (arrays over ALPHAS)."""
    n = len(ALPHAS)
    res = {k: np.zeros(n) for k in ("HOTA_TP", "HOTA_FN", "HOTA_FP", "LocA", "AssA", "AssRe", "AssPr")}
    gt_total = sum(len(g) for g, _, _ in frames)
    pred_total = sum(len(p) for _, p, _ in frames)
    if pred_total == 0:
        res["HOTA_FN"][:] = gt_total
        res["LocA"][:] = 1.0
        return _finish(res)
    if gt_total == 0:
        res["HOTA_FP"][:] = pred_total
        res["LocA"][:] = 1.0
        return _finish(res)
    potential = np.zeros((num_gt, num_pred))
    gt_count = np.zeros((num_gt, 1))
    pred_count = np.zeros((1, num_pred))
    for g, p, sim in frames:
        denom = sim.sum(0)[np.newaxis, :] + sim.sum(1)[:, np.newaxis] - sim
        iou = np.zeros_like(sim)
        mask = denom > 0 + _EPS
        iou[mask] = sim[mask] / denom[mask]
        potential[g[:, None], p[None, :]] += iou
        gt_count[g] += 1
        pred_count[0, p] += 1
    global_alignment = potential / (gt_count + pred_count - potential)
    matches = [np.zeros((num_gt, num_pred)) for _ in ALPHAS]
    for g, p, sim in frames:
        if len(g) == 0:
            res["HOTA_FP"] += len(p)
            continue
        if len(p) == 0:
            res["HOTA_FN"] += len(g)
            continue
        score = global_alignment[g[:, None], p[None, :]] * sim
        rows, cols = linear_sum_assignment(-score)
        for a, alpha in enumerate(ALPHAS):
            ok = sim[rows, cols] >= alpha - _EPS
            r, c = rows[ok], cols[ok]
            tp = len(r)
            res["HOTA_TP"][a] += tp
            res["HOTA_FN"][a] += len(g) - tp
            res["HOTA_FP"][a] += len(p) - tp
            if tp:
                res["LocA"][a] += sim[r, c].sum()
                matches[a][g[r], p[c]] += 1
    for a in range(n):
        m = matches[a]
        ass = m / np.maximum(1, gt_count + pred_count - m)
        res["AssA"][a] = np.sum(m * ass) / np.maximum(1, res["HOTA_TP"][a])
        ass_re = m / np.maximum(1, gt_count)
        res["AssRe"][a] = np.sum(m * ass_re) / np.maximum(1, res["HOTA_TP"][a])
        ass_pr = m / np.maximum(1, pred_count)
        res["AssPr"][a] = np.sum(m * ass_pr) / np.maximum(1, res["HOTA_TP"][a])
    res["LocA"] = np.maximum(1e-10, res["LocA"]) / np.maximum(1e-10, res["HOTA_TP"])
    return _finish(res)


def combine(sequences: list[dict]) -> dict:
    """Several sequences' results as one (TrackEval's combine_sequences: counts summed, AssA / AssRe / AssPr / LocA
    weighted by the true positives)."""
    res = {k: sum(s[k] for s in sequences) for k in ("HOTA_TP", "HOTA_FN", "HOTA_FP")}
    for k in ("AssA", "AssRe", "AssPr"):
        res[k] = sum(s[k] * s["HOTA_TP"] for s in sequences) / np.maximum(1.0, res["HOTA_TP"])
    res["LocA"] = np.maximum(1e-10, sum(s["LocA"] * s["HOTA_TP"] for s in sequences)) / np.maximum(1e-10,
                                                                                                 res["HOTA_TP"])
    return _finish(res)


def _finish(res: dict) -> dict:
    res["DetA"] = res["HOTA_TP"] / np.maximum(1, res["HOTA_TP"] + res["HOTA_FN"] + res["HOTA_FP"])
    res["HOTA"] = np.sqrt(res["DetA"] * res["AssA"])
    return res


def summary(res: dict) -> dict:
    """The alpha-averaged numbers (fractions) of a hota_sequence / combine result."""
    return {k: float(np.mean(res[k])) for k in ("HOTA", "DetA", "AssA", "AssRe", "AssPr", "LocA")}
