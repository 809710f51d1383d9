"""Per-segment 3D statistics of a panoptic label map from a registered depth image (numpy, no ROS).

Every valid depth pixel (finite, inside (min_depth, max_depth]) of a reported segment is back-projected
through the pinhole model; per segment and per axis the points give the median (the centroid: robust to
the background pixels a mask edge always picks up) and two percentiles (the robust box: ``extent`` =
high - low percentile, ``box_center`` = their midpoint). One pass: the pixels are grouped by segment with
one sort per axis, so the cost is O(P log P) in the valid pixels, whatever the number of segments.
Segments without valid depth are still reported, with valid_points 0 and NaN statistics.

Depth gate: a mask edge picks up background pixels that lie far behind the object; their depth is
robustly ignored by the median z, but their x / y are not (they are spread on one side of the object
when it is off the optical axis). So, as yolo_ros does, only the points within ``depth_gate`` metres of
the segment's median depth are kept for all statistics (None = keep every valid point).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .intrinsics import Intrinsics, check_same_aspect

DEPTH_GATE = 0.5   # metres around a segment's median depth that count as the segment (see the module doc)


@dataclass(frozen=True)
class Segments3D:
    """Statistics of the segments ``ids`` (row i = ids[i]); metres in the camera's optical frame."""
    ids: np.ndarray            # int64 [S]
    centroid: np.ndarray       # float64 [S, 3] per-axis median (NaN when valid_points == 0)
    box_center: np.ndarray     # float64 [S, 3] midpoint of the low / high percentiles
    extent: np.ndarray         # float64 [S, 3] high - low percentile per axis
    valid_points: np.ndarray   # int64 [S] pixels with valid depth
    area: np.ndarray           # int64 [S] pixels of the segment in the depth-sized label map

    def __len__(self) -> int:
        return len(self.ids)

    def record(self, segment_id: int) -> dict:
        """One segment as a plain dict (KeyError if it was not reported)."""
        rows = np.flatnonzero(self.ids == int(segment_id))
        if not rows.size:
            raise KeyError(f"segment {segment_id} was not reported")
        i = int(rows[0])
        return {"id": int(self.ids[i]), "centroid": tuple(float(v) for v in self.centroid[i]),
                "box_center": tuple(float(v) for v in self.box_center[i]),
                "extent": tuple(float(v) for v in self.extent[i]),
                "valid_points": int(self.valid_points[i]), "area": int(self.area[i])}

    def records(self) -> list[dict]:
        return [self.record(int(i)) for i in self.ids]


def _check_depth(depth) -> np.ndarray:
    depth = np.asarray(depth)
    if depth.ndim != 2 or depth.dtype.kind != "f":
        raise ValueError(f"depth: expected an HxW float array in metres, got shape {depth.shape} dtype {depth.dtype}")
    return depth


def resize_labels(panoptic: np.ndarray, width: int, height: int) -> np.ndarray:
    """Nearest-neighbour resize of a label map (pixel centres mapped, no new ids invented)."""
    panoptic = np.asarray(panoptic)
    h, w = panoptic.shape
    if (w, h) == (width, height):
        return panoptic
    check_same_aspect((w, h), (width, height), "panoptic label map", "depth image")
    rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(np.int64), w - 1)
    return panoptic[rows[:, None], cols[None, :]]


def valid_depth(depth: np.ndarray, min_depth: float = 0.0, max_depth: float = np.inf) -> np.ndarray:
    """bool HxW: finite depth in (min_depth, max_depth] (0 and NaN are the usual 'no return' values)."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(depth) & (depth > max(min_depth, 0.0)) & (depth <= max_depth)


def back_project(depth, intrinsics: Intrinsics, *, min_depth: float = 0.0, max_depth: float = np.inf) -> np.ndarray:
    """float32 HxWx3 points (x right, y down, z forward, metres) of every pixel; NaN where depth is invalid.
    The intrinsics are scaled to the depth image's size when they belong to a scaled version of it."""
    depth = _check_depth(depth)
    h, w = depth.shape
    k = intrinsics.scaled_to(w, h)
    z = np.where(valid_depth(depth, min_depth, max_depth), depth, np.nan).astype(np.float32)
    x = (np.arange(w, dtype=np.float32)[None, :] - np.float32(k.cx)) / np.float32(k.fx) * z
    y = (np.arange(h, dtype=np.float32)[:, None] - np.float32(k.cy)) / np.float32(k.fy) * z
    return np.stack([x, y, z], axis=-1)


def _segment_index(labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """int64 HxW: row of each pixel's segment in ids, -1 for pixels of unreported segments."""
    size = int(max(labels.max(initial=0), ids.max(initial=0))) + 1
    lut = np.full(size, -1, dtype=np.int64)
    lut[ids] = np.arange(len(ids))
    return lut[labels]


def _points(depth, intrinsics, panoptic, ids, min_depth, max_depth):
    depth = _check_depth(depth)
    h, w = depth.shape
    k = intrinsics.scaled_to(w, h)
    labels = np.asarray(resize_labels(panoptic, w, h))
    if labels.dtype.kind not in "iu" or (labels.size and labels.min() < 0):
        raise ValueError(f"panoptic: expected non-negative integer segment ids, got dtype {labels.dtype}")
    labels = labels.astype(np.int64, copy=False)
    if ids is None:
        ids = np.unique(labels)
        ids = ids[ids > 0]
    ids = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64).reshape(-1)
    if ids.size and ids.min() <= 0:
        raise ValueError(f"ids: segment ids must be > 0 (0 = unknown), got {ids.min()}")
    if len(np.unique(ids)) != len(ids):
        raise ValueError("ids: duplicate segment ids")
    index = _segment_index(labels, ids)
    take = (index >= 0) & valid_depth(depth, min_depth, max_depth)
    rows, cols = np.nonzero(take)
    z = depth[rows, cols].astype(np.float64)
    x = (cols - k.cx) / k.fx * z
    y = (rows - k.cy) / k.fy * z
    return ids, index, index[rows, cols], np.stack([x, y, z], axis=1)


def _grouped_percentiles(values: np.ndarray, group: np.ndarray, counts: np.ndarray,
                         quantiles: Sequence[float]) -> np.ndarray:
    """[len(quantiles), G] percentiles (numpy's default linear interpolation) of values per group; NaN for
    empty groups. One sort of a combined key (group * span + value: groups ascending, values ascending
    inside each; 2-3x faster than lexsort), no Python loop over groups."""
    if not values.size:
        return np.full((len(quantiles), len(counts)), np.nan)
    low, span = values.min(), values.max() - values.min() + 1.0
    offset = np.repeat(np.arange(len(counts), dtype=np.float64) * span, counts)
    ordered = np.sort(group * span + (values - low)) - offset + low
    starts = np.cumsum(counts) - counts
    out = np.full((len(quantiles), len(counts)), np.nan)
    full = counts > 0
    for qi, q in enumerate(quantiles):
        pos = starts[full] + (q / 100.0) * (counts[full] - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, starts[full] + counts[full] - 1)
        frac = pos - lo
        out[qi, full] = ordered[lo] * (1.0 - frac) + ordered[hi] * frac
    return out


def segments_3d(depth, intrinsics: Intrinsics, panoptic, ids: Sequence[int] | np.ndarray | None = None, *,
                low: float = 5.0, high: float = 95.0, min_depth: float = 0.0, max_depth: float = np.inf,
                depth_gate: float | None = DEPTH_GATE) -> Segments3D:
    """3D centroid, robust box and valid-point count of each segment in ``ids`` (default: all ids > 0 in the map).

    depth: HxW float metres (0 / NaN / inf = invalid); intrinsics: of the depth image or of a scaled
    version of it; panoptic: label map of the colour image (resized to the depth size by nearest neighbour
    when it differs, which needs the same aspect ratio). valid_points counts the points the statistics use
    (valid depth, within depth_gate of the median depth); area the segment's pixels at the depth size.
    """
    if not 0.0 <= low <= high <= 100.0:
        raise ValueError(f"percentiles: need 0 <= low <= high <= 100, got low={low}, high={high}")
    ids, index, group, points = _points(depth, intrinsics, panoptic, ids, min_depth, max_depth)
    count = len(ids)
    valid_points = np.bincount(group, minlength=count).astype(np.int64)
    if depth_gate is not None and len(group):
        if depth_gate <= 0:
            raise ValueError(f"depth_gate must be > 0 metres or None, got {depth_gate}")
        median_z = _grouped_percentiles(points[:, 2], group, valid_points, (50.0,))[0]
        keep = np.abs(points[:, 2] - median_z[group]) <= depth_gate
        group, points = group[keep], points[keep]
        valid_points = np.bincount(group, minlength=count).astype(np.int64)
    area = np.bincount(index[index >= 0], minlength=count).astype(np.int64)
    stats = np.stack([_grouped_percentiles(points[:, axis], group, valid_points, (50.0, low, high))
                      for axis in range(3)], axis=-1)          # [3 quantiles, S, 3 axes]
    median, lo, hi = stats
    return Segments3D(ids=ids, centroid=median, box_center=(lo + hi) / 2.0, extent=hi - lo,
                      valid_points=valid_points, area=area)


def segment_points(depth, intrinsics: Intrinsics, panoptic, ids: Sequence[int] | np.ndarray | None = None, *,
                   stride: int = 1, min_depth: float = 0.0,
                   max_depth: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Point cloud of the segments: float32 [N, 3] points and int64 [N] segment ids (every stride-th valid
    point, for a light rviz cloud)."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    ids, _, group, points = _points(depth, intrinsics, panoptic, ids, min_depth, max_depth)
    return points[::stride].astype(np.float32), ids[group[::stride]]
