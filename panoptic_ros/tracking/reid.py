"""Re-identification of lost tracks: the appearance descriptor and the decision rule (see docs/tracking.md).

Why these cues: the tracker sees the panoptic map, the image and (with depth) a depth image, nothing of the
network's features, and must stay cheap at 50 objects. So an object's appearance is a 64-bin joint RGB histogram
(4 levels per channel) of the image at the tracker's grid points inside its mask (one ``np.bincount`` for all
segments of a frame), smoothed across neighbouring bins (shading, outlines and noise move pixels across bin edges)
and compared with the Bhattacharyya coefficient; sizes must agree within a factor MAX_SIZE_RATIO unless a box
touches the image border (a re-entering object is cut), and their ratio adds to the cost. Objects of one class that
look alike get the same score, so motion decides for them: the reappearing segment must lie near the path from
where the lost object was last seen to where its own velocity takes it (both moved with the camera's estimated
image motion; a hidden object may slow down or stop, so the whole path is plausible), within a radius that grows
with the time it was lost; and when both it and the lost object move (faster than ``min_speed``), not in opposite
directions (a look-alike ruled out that way still counts as a rival). How differently the two move (0 to 1, where
both motions are known) adds MOTION_WEIGHT gate radii to the position term: it is where the object goes as well as
where it is, so two look-alikes about as near but on different courses are told apart. A confident match must also
be unambiguous, for the segment and for the lost track: the best candidate's cost must beat every plausible rival's
(judged with LOOSE gates) by ``track_reid_margin``, and a look-alike rival (colours within LOOKALIKE_SIMILARITY:
noise) must be LOOKALIKE_POSITION gate radii farther away; otherwise a new id starts (wrong merges are worse than
new ids).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

NUM_BINS = 64          # 4 levels per RGB channel
YOUNG_SECONDS = 1.0    # a track born new may still take an old id this long (re-entering / emerging: a sliver first)
MAX_SIZE_RATIO = 3.0   # sizes (sqrt of box area) of a re-identified pair differ at most this much (uncut boxes)
SMOOTH_SIGMA = 0.35    # histogram smoothing, in bin widths
LOOSE = 2.0            # rivals: within LOOSE x the position gate's radius ...
LOOSE_SIMILARITY = 0.1  # ... and at most this much below the appearance threshold
LOOKALIKE_SIMILARITY = 0.05  # rivals this much less similar or more count as look-alikes ...
LOOKALIKE_POSITION = 0.5     # ... unless this many gate radii farther than the best
MOTION_WEIGHT = 0.45   # the motions' difference (0..1) adds this much to the position term (gate radii)
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
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def match(queries: dict, candidates: dict, settings: dict) -> dict[int, int]:
    """{query row: candidate index} for the confident, unambiguous pairs (see :func:`match_costs`)."""
    return {r: c for r, (c, _) in match_costs(queries, candidates, settings).items()}


def match_costs(queries: dict, candidates: dict, settings: dict) -> dict[int, tuple[int, float]]:
    """{query row: (candidate index, cost)} for the confident, unambiguous pairs.

    queries: arrays over Q segments: "category", "center" [Q,2], "size", "hist" [Q,64], "border" (bool),
    "depth" (NaN = unknown). candidates: the same over C lost tracks ("hist" may be a list of [64] arrays), with
    "center" their predicted centre now, "origin" where each was last seen (moved with the camera; the position
    gate measures the distance to the path between the two) and "lost" the seconds since each was last seen.
    Optional "velocity" [Q,2] / [C,2] (motion relative to the camera, pixels per second; NaN = unknown).
    Optional "standby" [C] (bool): candidates offered only to the segments no other candidate takes, and no
    rivals of the others' pairs (the tracker's id handback: a revived track's former state).
    settings: "similarity", "distance", "margin", "depth" (the track_reid_* values), "min_size" (pixels: the
    smallest object size the position gate's radius assumes; tiny and cut segments misstate their size) and
    "min_speed" (pixels per second: two motions both faster than this must not point in opposite directions).

    A pair must pass every gate (class, appearance, position, size, depth); the pairs are assigned optimally by
    cost; a pair is then refused when a rival is about as good: any other candidate of the segment, or other
    segment of the candidate, of the same class whose cost is within ``margin`` of the pair's, judged with LOOSE
    gates (a look-alike just outside the position gate, or a little less similar, is still a reason for doubt).
    """
    nq, nc = len(queries["category"]), len(candidates["category"])
    if not nq or not nc:
        return {}
    c_center = np.asarray(candidates["center"], dtype=np.float64).reshape(nc, 2)
    c_origin = np.asarray(candidates.get("origin", c_center), dtype=np.float64).reshape(nc, 2)
    c_size = np.asarray(candidates["size"], dtype=np.float64)
    c_lost = np.asarray(candidates["lost"], dtype=np.float64)
    q_size = np.asarray(queries["size"], dtype=np.float64)
    dist = _path_distance(np.asarray(queries["center"], dtype=np.float64).reshape(nq, 2), c_origin, c_center)
    size = np.maximum(np.maximum(q_size[:, None], c_size[None, :]), settings.get("min_size", 0.0))
    radius = settings["distance"] * size * (1.0 + c_lost[None, :])
    plausible = (np.asarray(queries["category"])[:, None] == np.asarray(candidates["category"])[None, :]) & (
        dist <= LOOSE * radius)
    if not plausible.any():       # the usual frame: nothing lost is near a new segment of its class
        return {}
    # only the rows and columns with a plausible pair from here on
    rows, cols = np.flatnonzero(plausible.any(1)), np.flatnonzero(plausible.any(0))
    plausible, dist, radius = plausible[np.ix_(rows, cols)], dist[np.ix_(rows, cols)], radius[np.ix_(rows, cols)]
    q_size, c_size = q_size[rows], c_size[cols]
    c_hist = np.asarray(candidates["hist"], dtype=np.float32)[cols]
    sim = np.sqrt(np.asarray(queries["hist"])[rows][:, None, :] * c_hist[None, :, :]).sum(2)   # Bhattacharyya
    ratio = np.minimum(q_size[:, None], c_size[None, :]) / np.maximum(np.maximum(q_size[:, None], c_size[None, :]),
                                                                       1e-9)
    cut = np.asarray(queries["border"], dtype=bool)[rows][:, None] | np.asarray(candidates["border"],
                                                                                  dtype=bool)[cols][None, :]
    if "velocity" in queries and "velocity" in candidates and settings.get("min_speed", 0) > 0:
        qv = np.asarray(queries["velocity"], dtype=np.float64).reshape(nq, 2)[rows]
        cv = np.asarray(candidates["velocity"], dtype=np.float64).reshape(nc, 2)[cols]
        fast = settings["min_speed"]
        moving_q = np.linalg.norm(qv, axis=1) > fast            # NaN (unknown) compares False
        moving_c = np.linalg.norm(cv, axis=1) > fast
        # opposite directions rule the pair out, but not as a rival: a velocity measured on a cut or emerging
        # segment can point the wrong way, and a look-alike it rules out is still a reason for doubt
        against = moving_q[:, None] & moving_c[None, :] & ((qv @ cv.T) < 0)
        # how differently they move: the difference of the two motions over the faster one (at least min_speed),
        # 0 (the same) to 1 (one still, or at right angles or more); 0 where either is unknown
        differ = np.linalg.norm(qv[:, None, :] - cv[None, :, :], axis=2) / np.maximum(
            np.maximum(np.linalg.norm(qv, axis=1)[:, None], np.linalg.norm(cv, axis=1)[None, :]), fast)
        differ = np.where(np.isfinite(differ), np.clip(differ, 0.0, 1.0), 0.0)
    else:
        against = np.zeros_like(plausible)
        differ = np.zeros(plausible.shape)
    if settings["depth"] > 0:
        qd = np.asarray(queries["depth"], dtype=np.float64)[rows][:, None]
        cd = np.asarray(candidates["depth"], dtype=np.float64)[cols][None, :]
        known = np.isfinite(qd) & np.isfinite(cd)
        plausible &= ~known | (np.abs(qd - cd) <= settings["depth"] * cd)     # (NaN compares False, silently)
    ok = plausible & ~against & (dist <= radius) & (sim >= settings["similarity"]) & (
        cut | (ratio >= 1.0 / MAX_SIZE_RATIO))
    if not ok.any():
        return {}
    plausible &= sim >= settings["similarity"] - LOOSE_SIMILARITY
    # cost, 0 for a perfect pair: 0.4 appearance (1 at the threshold), 0.5 position (1 at the gate's radius;
    # up to LOOSE for rivals; plus the motions' difference), 0.1 size (uncut boxes)
    span = max(1.0 - settings["similarity"], 1e-6)
    # where it is (gate radii from the path) and where it goes: look-alikes about as near but moving differently
    # are told apart, in the cost and in the look-alike test
    position = dist / np.maximum(radius, 1e-9) + MOTION_WEIGHT * differ
    cost = 0.4 * np.clip((1.0 - sim) / span, 0, None) + 0.5 * position
    cost += 0.1 * np.where(cut, 0.0, 1.0 - ratio)
    # standby candidates (a revived track's former state, see the tracker's id handback) only for the segments no
    # other candidate takes, and no rivals of the others
    standby = np.asarray(candidates.get("standby", np.zeros(nc, dtype=bool)), dtype=bool)[cols]
    out = {}
    free = np.ones(len(rows), dtype=bool)
    for group in (~standby, standby) if standby.any() else (~standby,):
        fr, gc = np.flatnonzero(free), np.flatnonzero(group)
        sub = np.ix_(fr, gc)
        for r, c in _decide(ok[sub], plausible[sub], cost[sub], sim[sub], position[sub], settings["margin"]):
            out[int(rows[fr[r]])] = (int(cols[gc[c]]), float(cost[fr[r], gc[c]]))
            free[fr[r]] = False
    return out


def _decide(ok: np.ndarray, plausible: np.ndarray, cost: np.ndarray, sim: np.ndarray, position: np.ndarray,
            margin: float) -> list[tuple[int, int]]:
    """The optimal assignment of the pairs that pass every gate (``ok``), without the ambiguous ones: a rival
    (``plausible``) about as similar and near, or within ``margin`` of the pair's cost, for the segment or for
    the candidate."""
    if not ok.any():
        return []
    pick_r, pick_c = linear_sum_assignment(np.where(ok, cost, _INFEASIBLE))
    out = []
    for r, c in zip(pick_r.tolist(), pick_c.tolist()):
        if not ok[r, c]:
            continue
        limit = cost[r, c] + margin
        # look-alikes (about as similar) about as near: colour differences below LOOKALIKE_SIMILARITY are noise,
        # so the position alone must tell them apart, by LOOKALIKE_POSITION radii
        alike = sim[r, c] - LOOKALIKE_SIMILARITY
        near = position[r, c] + LOOKALIKE_POSITION
        if (plausible[r] & (sim[r] > alike) & (position[r] < near)).sum() > 1 or \
                (plausible[:, c] & (sim[:, c] > alike) & (position[:, c] < near)).sum() > 1:
            continue
        if (plausible[r] & (cost[r] < limit)).sum() > 1 or (plausible[:, c] & (cost[:, c] < limit)).sum() > 1:
            continue          # ambiguous (look-alikes near each other): a new id is safer than a wrong merge
        out.append((r, c))
    return out


def _path_distance(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """[Q, C] distance of each point to each candidate's path from ``start`` (where it was last seen, moved with
    the camera) to ``end`` (where its own velocity takes it): a hidden object may have slowed down or stopped,
    and velocities measured on cut segments are rough, so anywhere along the way is as plausible."""
    d = end - start                                                         # [C, 2]
    length2 = np.maximum((d * d).sum(1), 1e-9)
    t = np.clip(((points[:, None, :] - start[None]) * d[None]).sum(2) / length2[None], 0.0, 1.0)   # [Q, C]
    nearest = start[None] + t[..., None] * d[None]
    return np.linalg.norm(points[:, None, :] - nearest, axis=2)
