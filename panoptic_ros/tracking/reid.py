"""Re-identification of lost tracks: the appearance descriptor and the decision rule (see docs/tracking.md).

Why these cues: the tracker sees the panoptic map, the image and (with depth) a depth image, nothing of the
network's features, and must stay cheap at 50 objects. So an object's appearance is a 64-bin joint RGB histogram
(4 levels per channel) of the image at the tracker's grid points inside its mask (one ``np.bincount`` for all
segments of a frame), smoothed across neighbouring bins (shading, outlines and noise move pixels across bin edges)
and compared with the Bhattacharyya coefficient; sizes must agree within a factor MAX_SIZE_RATIO unless a box
touches the image border (a re-entering object is cut), and their ratio adds to the cost. Objects of one class that look
alike get the same score, so the position decides for them: where the lost object should be now (its last centre,
moved by the camera's estimated image motion since then and by its own motion relative to the camera), within a
radius that grows with the time it was lost. A confident match must also be unambiguous: the best candidate's
cost must beat every rival's, for the segment and for the lost track, by ``track_reid_margin``; otherwise a new
id starts (wrong merges are worse than new ids).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

NUM_BINS = 64          # 4 levels per RGB channel
YOUNG_SECONDS = 1.0    # a track born new may still take an old id this long (re-entering / emerging: a sliver first)
MAX_SIZE_RATIO = 3.0   # sizes (sqrt of box area) of a re-identified pair differ at most this much (uncut boxes)
SMOOTH_SIGMA = 0.35    # histogram smoothing, in bin widths
_INFEASIBLE = 1e6


def _smoothing() -> np.ndarray:
    levels = np.stack(np.meshgrid(*[np.arange(4)] * 3, indexing="ij"), -1).reshape(NUM_BINS, 3)
    d2 = ((levels[:, None, :] - levels[None, :, :]) ** 2).sum(2)
    s = np.exp(-d2 / (2 * SMOOTH_SIGMA ** 2))
    return (s / s.sum(1, keepdims=True)).astype(np.float32)


SMOOTH = _smoothing()  # [64, 64]: each bin spreads to its neighbours


def colour_histograms(image_grid: np.ndarray, g: np.ndarray, k: int) -> np.ndarray:
    """float32 [k, 64] normalised joint RGB histograms of the segments' grid pixels (g: segment index 1..k, 0 =
    other, same shape as image_grid's first two axes)."""
    q = image_grid >> 6                                      # uint8 0..3 per channel
    bins = ((q[..., 0] << 4) | (q[..., 1] << 2) | q[..., 2]).ravel()
    h = np.bincount((g.ravel().astype(np.int32) << 6) | bins, minlength=(k + 1) * NUM_BINS)
    h = h.reshape(k + 1, NUM_BINS)[1:].astype(np.float32) @ SMOOTH
    return h / np.maximum(h.sum(1, keepdims=True), 1e-9)


def segment_depths(depth_grid: np.ndarray, g: np.ndarray, k: int) -> np.ndarray:
    """float64 [k] mean depth (metres) of each segment's valid grid pixels; NaN where none is valid."""
    d = depth_grid.ravel().astype(np.float64)
    valid = np.isfinite(d) & (d > 0)
    idx = g.ravel()[valid].astype(np.int64)
    total = np.bincount(idx, weights=d[valid], minlength=k + 1)[1:]
    count = np.bincount(idx, minlength=k + 1)[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def match(queries: dict, candidates: list, settings: dict) -> dict[int, int]:
    """{query row: candidate index} for the confident, unambiguous pairs.

    queries: arrays over Q segments: "category", "center" [Q,2], "size", "hist" [Q,64], "border" (bool),
    "depth" (NaN = unknown). candidates: list of dicts with the same keys for one lost track each, "center" being
    its predicted centre now and "lost" the seconds since it was last seen whole. settings: "similarity",
    "distance", "margin", "depth" (the track_reid_* values).
    """
    nq, nc = len(queries["category"]), len(candidates)
    if not nq or not nc:
        return {}
    c_cat = np.array([c["category"] for c in candidates])
    c_center = np.array([c["center"] for c in candidates], dtype=np.float64).reshape(nc, 2)
    c_size = np.array([c["size"] for c in candidates], dtype=np.float64)
    c_lost = np.array([c["lost"] for c in candidates], dtype=np.float64)
    q_size = np.asarray(queries["size"], dtype=np.float64)
    dist = np.linalg.norm(np.asarray(queries["center"], dtype=np.float64)[:, None, :] - c_center[None, :, :], axis=2)
    radius = settings["distance"] * np.maximum(q_size[:, None], c_size[None, :]) * (1.0 + c_lost[None, :])
    ok = (np.asarray(queries["category"])[:, None] == c_cat[None, :]) & (dist <= radius)
    if not ok.any():          # the usual frame: nothing lost is near a new segment of its class
        return {}
    c_hist = np.stack([c["hist"] for c in candidates])
    c_border = np.array([c["border"] for c in candidates], dtype=bool)
    c_depth = np.array([c["depth"] for c in candidates], dtype=np.float64)
    sim = np.sqrt(queries["hist"][:, None, :] * c_hist[None, :, :]).sum(2)             # Bhattacharyya [Q, C]
    ratio = np.minimum(q_size[:, None], c_size[None, :]) / np.maximum(np.maximum(q_size[:, None], c_size[None, :]),
                                                                       1e-9)
    cut = np.asarray(queries["border"], dtype=bool)[:, None] | c_border[None, :]
    ok &= (sim >= settings["similarity"]) & (cut | (ratio >= 1.0 / MAX_SIZE_RATIO))
    if settings["depth"] > 0:
        qd = np.asarray(queries["depth"], dtype=np.float64)[:, None]
        known = np.isfinite(qd) & np.isfinite(c_depth[None, :])
        with np.errstate(invalid="ignore"):
            ok &= ~known | (np.abs(qd - c_depth[None, :]) <= settings["depth"] * c_depth[None, :])
    if not ok.any():
        return {}
    # cost in [0, 1]: 0.4 appearance (0 at similarity 1, 1 at the threshold), 0.5 position (0 at the prediction),
    # 0.1 size (uncut boxes)
    span = max(1.0 - settings["similarity"], 1e-6)
    cost = 0.4 * np.clip((1.0 - sim) / span, 0, 1) + 0.5 * np.clip(dist / np.maximum(radius, 1e-9), 0, 1)
    cost += 0.1 * np.where(cut, 0.0, 1.0 - ratio)
    cost = np.where(ok, cost, _INFEASIBLE)
    rows, cols = linear_sum_assignment(cost)
    margin = settings["margin"]
    out = {}
    for r, c in zip(rows.tolist(), cols.tolist()):
        if not ok[r, c]:
            continue
        best = cost[r, c]
        rivals_of_query = np.delete(cost[r], c)
        rivals_of_track = np.delete(cost[:, c], r)
        if (rivals_of_query < best + margin).any() or (rivals_of_track < best + margin).any():
            continue          # ambiguous (look-alikes near each other): a new id is safer than a wrong merge
        out[r] = c
    return out
