"""PanopticTracker: turns the per-frame segment ids of a PanopticResult into ids that stay with an object.

Id layout (the values of ``PanopticResult.panoptic`` and ``segment["id"]`` after :meth:`PanopticTracker.update`):

- ``0``: unknown / void, as without tracking;
- ``1 .. THING_ID_BASE - 1``: stuff; ``id = channel index + 1`` (:func:`stuff_id`), fixed for a model, so "road"
  has the same id in every frame and every run;
- ``> THING_ID_BASE``: things; ``THING_ID_BASE + 1``, ``+ 2``, ... in order of first appearance. A thing id is never
  reused within the tracker's life: a reset (stamp jump, model change) ends every track but keeps counting.
  After ``MAX_ID`` (the int32 limit) the counter starts again at ``THING_ID_BASE + 1`` with a reset.

Design (one pass per frame, cost independent of the number of track/segment pairs):

1. Tracks not seen for more than ``track_max_age`` seconds (frame stamps) end. A stamp earlier than the last one
   (a bag loop) or a new image size resets the tracker; ``last_reset`` then holds the reason.
2. Each live track keeps the pixels of its last mask on a regular grid (stride chosen so the image has about
   ``track_iou_pixels`` grid points), its box, and a constant velocity (box centre, pixels per second, smoothed).
   With ``track_motion`` the mask is moved by velocity x (stamp - mask stamp), so camera motion and dropped frames
   (the node processes the newest frame only) keep their tracks. A segment much smaller than its track's mask
   (partly hidden behind another object, or leaving) keeps the older, whole mask and velocity for a few frames, so
   an object passing behind another is found again where it comes out.
3. Mask IoU between every thing segment of the frame and every moved track mask comes from one joint histogram
   (``np.bincount`` of segment index x track index over the track pixels); a segment too small to hit the grid
   uses the IoU of its box with the moved track box instead.
4. Pairs of different classes or with IoU below ``track_min_iou`` (or 0) are excluded; the rest are assigned by
   maximum total IoU (``scipy.optimize.linear_sum_assignment``).
5. Segments and tracks left over (small or fast objects, young tracks whose velocity is not known yet) are assigned
   by the distance of the segment's box centre to the track's predicted centre, below DISTANCE_GATE x the object's
   size (same class, optimal assignment again).
6. With ``track_reid`` (and an image), segments still unmatched, and tracks born new in the last YOUNG_SECONDS
   (in their first two frames and whenever they grew by REID_GROWTH), are compared with the lost tracks
   (unmatched live ones and the memory of ended ones, kept ``track_reid_age`` seconds, at most
   ``track_reid_memory``): class, appearance, the path their own motion allows (relative to the camera, whose
   image motion comes from phase correlation of the background), direction of motion, depth; a confident
   unambiguous match revives the old id (:mod:`panoptic_ros.tracking.reid`). Velocities are measured on the free
   edge of boxes cut by an occluder or the image border (:func:`_box_velocities`).
7. Matched segments continue their track; unmatched segments start new tracks whose velocity starts at the median
   of the established tracks' (the camera's motion); unmatched tracks wait (lost) until they are too old, then
   move to the re-identification memory.

Every thing segment of the returned result gains ``track_age`` (frames the track has been seen, this one included),
``first_seen`` (stamp of its first frame, seconds) and ``id_source``: how its id was obtained this frame, one of
ID_SOURCES (``new``, ``continued``, ``reidentified``).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from ..config.schema import InferenceConfig, PanopticConfig
from ..panoptic.result import PanopticResult
from . import reid

log = logging.getLogger(__name__)

THING_ID_BASE = 1000            # stuff ids are below, thing ids above
MAX_ID = 2**31 - 1              # int32 label maps
VELOCITY_SMOOTHING = 0.5        # weight of the newest velocity measurement
MIN_GRID_PIXELS = 4             # segments with fewer grid points are compared by box IoU
DISTANCE_GATE = 1.5             # second stage: centre distance below this x the object's size (sqrt of box area)
OCCLUDED_AREA = 0.7             # a segment below this fraction of its track's mask is taken as partly hidden
MAX_KEPT_MASK = 3               # ... for at most this many frames, then its smaller mask replaces the old one
MIN_CAMERA_TRACKS = 3           # established tracks needed to update the camera's image-motion estimate
CUT_EXTENT = (1.5, 0.05)        # a box extent change above max(1.5 px, 5 %) between frames: cut by an occluder
REID_GROWTH = 1.15              # a young track is compared with the lost ones again once it grew this much
MIN_REID_SPEED = 0.03           # re-identification compares directions of motion faster than this x width / s
MIN_REID_SIZE = 0.05            # re-identification's position gate assumes objects at least this x image width
CAMERA_RESPONSE = 0.1           # phase correlation peak needed to trust the image shift as the camera's motion
_CROSS = np.ones((3, 3), np.uint8)
ID_SOURCES = ("new", "continued", "reidentified")


def stuff_id(channel: int) -> int:
    """The fixed id of a stuff class (channel index of the model's categories)."""
    return int(channel) + 1


@dataclass(eq=False, slots=True)
class _Track:
    id: int
    category: int                 # channel index
    first_seen: float             # stamp, seconds
    last_seen: float
    age: int                      # frames seen
    center: tuple                 # (x, y) in image pixels at mask_stamp
    box: tuple                    # (x0, y0, x1, y1) at mask_stamp
    velocity: tuple               # (vx, vy) pixels per second
    ys: np.ndarray                # int32 grid rows of the mask
    xs: np.ndarray                # int32 grid columns (the sample grid of _stride)
    mask_stamp: float             # when the mask, box and center were seen (last frame not partly hidden)
    kept: int = 0                 # frames the mask was kept over a smaller (partly hidden) segment
    source: str = "new"           # how the id was obtained this frame (ID_SOURCES)
    born_new: bool = True         # created as a new track and not (yet) re-identified
    hist: np.ndarray | None = None   # appearance: colour histogram (reid.colour_histograms), smoothed
    depth: float = math.nan       # mean depth of the mask (metres), NaN = unknown
    border: bool = False          # its box touched the image border (cut: size not compared)
    cam_offset: tuple = (0.0, 0.0)    # the camera's integrated image motion at mask_stamp
    reid_area: int = 0            # grid pixels when it was last compared with the lost tracks (young tracks)
    rel_velocity: tuple = (0.0, 0.0)  # own velocity minus the camera's at mask_stamp (pixels per second)


class PanopticTracker:
    """Stable ids for the segments of consecutive PanopticResults of one camera (see the module docstring).

    ``PanopticTracker(inference_cfg, categories)``: InferenceConfig (its ``track_*`` fields) and the model's
    CategoryMap (or None). ``update(result, stamp)`` returns a new result with stable ids; ``reset(reason)`` ends
    every track; ``last_reset`` is the reason of a reset done inside the last ``update()`` (else None);
    ``last_update_s`` the wall time of the last ``update()``.
    """

    def __init__(self, inference_cfg: InferenceConfig | None = None, categories=None):
        if categories is not None and len(categories) >= THING_ID_BASE:
            raise ValueError(f"tracking supports fewer than {THING_ID_BASE} classes (stuff ids are channel + 1), "
                             f"the model has {len(categories)}")
        self.categories = categories
        self.configure(inference_cfg if inference_cfg is not None else InferenceConfig())
        self._next_id = THING_ID_BASE + 1
        self._tracks: dict[int, _Track] = {}
        self._memory: dict[int, _Track] = {}      # ended tracks kept for re-identification, oldest first
        self._cam_velocity = (0.0, 0.0)           # the camera's image motion (median track velocity), px / s
        self._cam_offset = (0.0, 0.0)             # ... integrated over the frame stamps
        self._prev_offset = (0.0, 0.0)
        self._frame_dt = 0.0
        self._prev_gray: np.ndarray | None = None   # the last frame's grey grid image (camera motion)
        self._last_stamp: float | None = None
        self._shape: tuple[int, int] | None = None
        self.last_reset: str | None = None
        self.last_update_s = 0.0

    @classmethod
    def from_config(cls, cfg: PanopticConfig | InferenceConfig | None = None, categories=None) -> PanopticTracker:
        """From a PanopticConfig (its inference section) or an InferenceConfig."""
        inference = cfg.inference if isinstance(cfg, PanopticConfig) else cfg
        return cls(inference, categories)

    def configure(self, inference: InferenceConfig) -> None:
        """Take new ``track_*`` settings (run-time parameters); the tracks are kept."""
        self.max_age = float(inference.track_max_age)
        self.min_iou = float(inference.track_min_iou)
        self.motion = bool(inference.track_motion)
        self.iou_pixels = int(inference.track_iou_pixels)
        self.reid = bool(inference.track_reid)
        self.reid_age = float(inference.track_reid_age)
        self.reid_memory = int(inference.track_reid_memory)
        self.reid_settings = {"similarity": float(inference.track_reid_similarity),
                              "distance": float(inference.track_reid_distance),
                              "margin": float(inference.track_reid_margin), "depth": float(inference.track_reid_depth)}

    def reset(self, reason: str) -> None:
        """End every track (ids keep counting: none is reused)."""
        log.debug("tracker reset: %s", reason)
        self._tracks.clear()
        self._memory.clear()
        self._last_stamp = None
        self._shape = None
        self._cam_velocity = self._cam_offset = (0.0, 0.0)
        self._prev_gray = None

    @property
    def num_tracks(self) -> int:
        """Live tracks (seen within track_max_age)."""
        return len(self._tracks)

    @property
    def num_remembered(self) -> int:
        """Ended tracks in the re-identification memory."""
        return len(self._memory)

    # ------------------------------------------------------------------------------------------ update
    def update(self, result: PanopticResult, stamp: float, image: np.ndarray | None = None,
               depth: np.ndarray | None = None) -> PanopticResult:
        """The result with stable segment ids (a new PanopticResult on the same device; the input is unchanged).

        image: the frame (uint8 HxWx3, any channel order, used consistently), for re-identification's appearance;
        depth: HxW metres registered to it (any scale of the image), for its depth gate. Without an image no
        segment is re-identified."""
        start = time.perf_counter()
        self.last_reset = None
        stamp = float(stamp)
        if not math.isfinite(stamp):
            raise ValueError(f"tracker: frame stamp must be a finite number of seconds, got {stamp}")
        if self._last_stamp is not None and stamp < self._last_stamp:
            self._reset_inside(f"stamp jumped backwards from {self._last_stamp:.3f} s to {stamp:.3f} s")
        shape = (result.height, result.width)
        if self._shape is not None and shape != self._shape:
            self._reset_inside(f"image size changed from {self._shape[1]}x{self._shape[0]} to {shape[1]}x{shape[0]}")
        self._frame_dt = stamp - self._last_stamp if self._last_stamp is not None else 0.0
        self._prev_offset = self._cam_offset
        if self._last_stamp is not None:      # the camera's image motion since the last frame (refined below)
            dt = stamp - self._last_stamp
            self._cam_offset = (self._cam_offset[0] + self._cam_velocity[0] * dt,
                                self._cam_offset[1] + self._cam_velocity[1] * dt)
        self._shape, self._last_stamp = shape, stamp
        for tid in [tid for tid, t in self._tracks.items() if stamp - t.last_seen > self.max_age]:
            track = self._tracks.pop(tid)
            if self.reid and track.hist is not None and self.reid_age > self.max_age:
                self._memory[tid] = track
        self._forget(stamp)

        max_in = max((int(s["id"]) for s in result.segments), default=0)
        lut = np.zeros(max_in + 1, dtype=np.int32)          # input id -> stable id
        for seg in result.segments:
            if not seg["isthing"]:
                lut[int(seg["id"])] = stuff_id(seg["category_id"])
        segments = _merge_duplicate_stuff(result.segments)
        out_segments = []
        things = [s for s in segments if s["isthing"]]
        thing_ids = self._associate(result.panoptic, things, stamp, image, depth) if things else []
        thing_iter = iter(zip(things, thing_ids))
        for seg in segments:
            seg = dict(seg)
            if seg["isthing"]:
                _, (tid, track) = next(thing_iter)
                seg.update(track_age=track.age, first_seen=track.first_seen, id_source=track.source)
                lut[int(seg["id"])] = tid
            else:
                tid = stuff_id(seg["category_id"])
            seg["id"] = tid
            out_segments.append(seg)
        stable = _remap(result.panoptic, lut)
        self.last_update_s = time.perf_counter() - start
        return PanopticResult(stable, out_segments)

    def _forget(self, stamp: float) -> None:
        """Drop memory entries older than track_reid_age, then the oldest beyond track_reid_memory."""
        if not self.reid:
            self._memory.clear()
            return
        for tid in [tid for tid, t in self._memory.items() if stamp - t.last_seen > self.reid_age]:
            del self._memory[tid]
        while len(self._memory) > self.reid_memory:
            del self._memory[next(iter(self._memory))]

    def _reset_inside(self, reason: str) -> None:
        self.reset(reason)
        self.last_reset = reason

    def _stride(self, height: int, width: int) -> int:
        if self.iou_pixels <= 0:
            return 1
        return max(1, int(round(math.sqrt(height * width / self.iou_pixels))))

    def _associate(self, panoptic: torch.Tensor, things: list[dict], stamp: float, image: np.ndarray | None,
                   depth: np.ndarray | None) -> list[tuple[int, _Track]]:
        """(stable id, track) for each thing segment, in order; updates, creates, revives and keeps tracks."""
        stride = self._stride(*self._shape)
        grid = panoptic[::stride, ::stride]
        grid = grid.cpu().numpy() if grid.device.type != "cpu" else grid.numpy()
        k = len(things)
        ids = np.fromiter((int(s["id"]) for s in things), dtype=np.int64, count=k)
        compact = np.zeros(int(ids.max()) + 2, dtype=np.uint8 if k < 255 else np.int32)
        compact[ids] = np.arange(1, k + 1)
        g = np.take(compact, grid, mode="clip")                # [gh, gw] thing index 1..k, 0 = other
        seg_area = np.bincount(g.ravel(), minlength=k + 1)
        boxes = np.array([s.get("bbox", (0, 0, 0, 0)) for s in things], dtype=np.float64).reshape(k, 4)
        boxes[:, 2:] += boxes[:, :2]                           # xywh -> xyxy
        box_list = boxes.tolist()
        centers = ((boxes[:, :2] + boxes[:, 2:]) / 2).tolist()
        classes = np.fromiter((int(s["category_id"]) for s in things), dtype=np.int64, count=k)

        tracks = list(self._tracks.values())
        matches: dict[int, _Track] = {}
        if tracks:
            n = len(tracks)
            dt = np.array([stamp - t.mask_stamp for t in tracks])
            shift = np.array([t.velocity for t in tracks]) * dt[:, None] if self.motion else np.zeros((n, 2))
            same = classes[:, None] == np.array([t.category for t in tracks])[None, :]
            iou = self._similarity(g, seg_area, boxes, tracks, shift)
            ok = same & (iou > 0) & (iou >= self.min_iou)
            if ok.any():
                rows, cols = linear_sum_assignment(np.where(ok, -iou, 0.0))
                matches = {int(r): tracks[c] for r, c in zip(rows, cols) if ok[r, c]}
            if len(matches) < min(k, n):
                # with re-identification, tracks unseen in the last frame are left to it (appearance and motion
                # decide), not to distance alone: an object emerging where another one just went out of sight
                eligible = None if not (self.reid and image is not None) else \
                    np.array([t.last_seen >= self._last_stamp - self._frame_dt for t in tracks])
                matches.update(self._match_by_distance(boxes, tracks, shift, same, matches, eligible))

        # appearance (and depth) of every segment: what re-identification compares and the tracks keep
        hist = depths = camera_step = None
        if self.reid and image is not None:
            image_grid = _grid_of(image, g.shape, self._shape, stride)
            hist = reid.colour_histograms(image_grid, g, k)
            camera_step = self._camera_step(image_grid, g, stride)
            if depth is not None:
                depths = reid.segment_depths(_grid_of(depth, g.shape, self._shape, stride), g, k)
        h, w = self._shape
        border = ((boxes[:, 0] <= 0) | (boxes[:, 1] <= 0) | (boxes[:, 2] >= w) | (boxes[:, 3] >= h)).tolist()
        cam_now = self._cam_offset if camera_step is None or self._frame_dt <= 0 else \
            (self._prev_offset[0] + camera_step[0], self._prev_offset[1] + camera_step[1])
        revived = self._reidentify(matches, boxes, classes, hist, depths, border, stamp, cam_now, seg_area) \
            if hist is not None else {}

        # the grid pixels of each segment, for the next frames
        order = np.argsort(g.ravel(), kind="stable")[seg_area[0]:]    # radix sort: pixels grouped by segment
        ys, xs = np.divmod(order.astype(np.int32), np.int32(g.shape[1]))
        ends = np.cumsum(seg_area[1:]).tolist()
        classes_list = classes.tolist()
        w = VELOCITY_SMOOTHING

        # new tracks start with the median velocity of the established ones (camera motion), not with zero
        starting = len(matches) + sum(1 for i in revived if i not in matches) < k
        moving = [t.velocity for t in matches.values() if t.age > 1] if starting or camera_step is None else []
        prior = tuple(np.median(np.array(moving), axis=0).tolist()) if moving else (0.0, 0.0)
        if camera_step is not None and self._frame_dt > 0:
            dx, dy = camera_step
            self._cam_offset = (self._prev_offset[0] + dx, self._prev_offset[1] + dy)
            self._cam_velocity = (dx / self._frame_dt, dy / self._frame_dt)
        elif self._frame_dt > 0:
            # the camera's image motion: median displacement of the tracks seen whole in the last frame and now
            last = self._last_stamp - self._frame_dt
            steps = [(centers[i][0] - t.center[0], centers[i][1] - t.center[1]) for i, t in matches.items()
                     if t.mask_stamp == last and t.kept == 0]
            if len(steps) >= MIN_CAMERA_TRACKS:
                dx, dy = np.median(np.array(steps), axis=0).tolist()
                self._cam_offset = (self._prev_offset[0] + dx, self._prev_offset[1] + dy)
                self._cam_velocity = (dx / self._frame_dt, dy / self._frame_dt)
            elif len(moving) >= MIN_CAMERA_TRACKS:
                self._cam_velocity = prior
        elif len(moving) >= MIN_CAMERA_TRACKS:
            self._cam_velocity = prior
        cam_offset = self._cam_offset
        # every continued track's motion relative to the camera since its mask was seen (used where it is updated)
        rel_motion = {}
        moved = [(i, t) for i, t in matches.items() if stamp > t.mask_stamp]
        if moved:
            a = np.array([(*t.box, stamp - t.mask_stamp, cam_offset[0] - t.cam_offset[0],
                           cam_offset[1] - t.cam_offset[1]) for _, t in moved], dtype=np.float64)
            v = _box_velocities(a[:, :4], boxes[[i for i, _ in moved]], a[:, 4], a[:, 5:7], self._shape).tolist()
            rel_motion = {i: v[n] for n, (i, _) in enumerate(moved)}
        out, blend = [], []
        begin = 0
        for i in range(k):
            end = ends[i]
            seg_ys, seg_xs = ys[begin:end], xs[begin:end]
            begin = end
            center = centers[i]
            track = matches.get(i)
            old = revived.get(i)
            if old is not None:
                track = self._revive(old, track, stamp)
            elif track is None:
                track = _Track(self._new_id(), classes_list[i], stamp, stamp, 0, center, box_list[i], prior,
                               seg_ys, seg_xs, stamp)
                self._tracks[track.id] = track
            else:
                track.source = "continued"
            if old is None and track.source == "continued" and len(seg_ys) < OCCLUDED_AREA * len(track.ys) \
                    and track.kept < MAX_KEPT_MASK:
                track.kept += 1                  # partly hidden: keep the whole mask, its box and the velocity
                track.last_seen = stamp
            else:
                dt = stamp - track.mask_stamp
                if dt > 0 and track.kept == 0 and old is None:
                    rx, ry = rel_motion[i]
                    vx = rx + (cam_offset[0] - track.cam_offset[0]) / dt
                    vy = ry + (cam_offset[1] - track.cam_offset[1]) / dt
                    if track.age > 1:
                        vx, vy = w * vx + (1 - w) * track.velocity[0], w * vy + (1 - w) * track.velocity[1]
                        rx, ry = w * rx + (1 - w) * track.rel_velocity[0], w * ry + (1 - w) * track.rel_velocity[1]
                    track.velocity, track.rel_velocity = (vx, vy), (rx, ry)
                track.center, track.box, track.last_seen, track.mask_stamp = center, box_list[i], stamp, stamp
                track.ys, track.xs, track.kept = seg_ys, seg_xs, 0
                track.border, track.cam_offset = border[i], cam_offset
                if hist is not None:
                    if track.hist is None or track.age == 0:
                        track.hist = hist[i]
                    elif seg_area[i + 1] >= MIN_GRID_PIXELS:      # (too few grid points: keep what it looked like)
                        blend.append((track, i))
                if depths is not None:
                    track.depth = float(depths[i])
            track.age += 1
            out.append((track.id, track))
        if blend:   # appearance: the running mean of the frames a track is seen (one array operation per frame)
            mixed = 0.5 * (np.stack([t.hist for t, _ in blend]) + hist[[i for _, i in blend]])
            for (t, _), row in zip(blend, mixed):
                t.hist = row
        return out

    def _camera_step(self, image_grid: np.ndarray, g: np.ndarray, stride: int) -> tuple[float, float] | None:
        """The image's shift since the last frame (pixels) by phase correlation of the grey grid images, when the
        correlation is clear; else None. Only the background counts: the image is high-passed (its local mean
        removed) and the things' grid cells, grown by one cell, are zeroed, so moving objects (strong edges on a
        plain background) do not pull the estimate towards their own motion."""
        gray = (image_grid[..., 1] if image_grid.ndim == 3 else image_grid).astype(np.float32)   # green: enough
        gray -= cv2.blur(gray, (5, 5))
        gray[cv2.dilate((g > 0).view(np.uint8), _CROSS) > 0] = 0
        prev, self._prev_gray = self._prev_gray, gray
        if prev is None or prev.shape != gray.shape or min(gray.shape) < 8:
            return None
        (sx, sy), response = cv2.phaseCorrelate(prev, gray)
        return (sx * stride, sy * stride) if response > CAMERA_RESPONSE else None

    @staticmethod
    def _still_emerging(track: _Track, area: int, stamp: float) -> bool:
        """A young track is compared with the lost ones again while it may still be a returning object coming into
        sight: born new less than YOUNG_SECONDS ago, and seen in at most two frames (its own motion is known from
        the second) or grown by REID_GROWTH since it was last compared (same answer otherwise)."""
        if not track.born_new or stamp - track.first_seen > reid.YOUNG_SECONDS:
            return False
        if track.age <= 1 or area > REID_GROWTH * track.reid_area:
            track.reid_area = area
            return True
        return False

    def _reidentify(self, matches: dict[int, _Track], boxes: np.ndarray, classes: np.ndarray, hist: np.ndarray,
                    depths: np.ndarray | None, border: list, stamp: float, cam_now: tuple,
                    area: np.ndarray) -> dict[int, _Track]:
        """{segment row: lost track} for the segments that take an old id (reid.match decides): unmatched ones and
        those of tracks born new less than YOUNG_SECONDS ago. A young track's own motion (this frame included) goes
        with it: an object emerging where a look-alike just went out of sight, but moving the other way, is not
        that one."""
        rows = [i for i in range(len(boxes))
                if i not in matches or self._still_emerging(matches[i], area[i + 1], stamp)]
        if not rows:
            return {}
        taken = {id(t) for t in matches.values()}
        wanted = set(classes[rows].tolist())
        lost = [t for t in self._tracks.values() if id(t) not in taken and t.last_seen < stamp and t.hist is not None
                and t.category in wanted]
        lost += [t for t in self._memory.values() if t.category in wanted]
        if not lost:
            return {}
        q = boxes[rows]
        velocity = np.full((len(rows), 2), np.nan)    # a young track's motion relative to the camera, this frame in
        known = [(n, matches[i]) for n, i in enumerate(rows) if i in matches and stamp > matches[i].mask_stamp]
        if known:
            n_idx = np.array([n for n, _ in known])
            a = np.array([(*t.box, stamp - t.mask_stamp, cam_now[0] - t.cam_offset[0], cam_now[1] - t.cam_offset[1],
                           *t.rel_velocity, t.age > 1) for _, t in known], dtype=np.float64)
            v = _box_velocities(a[:, :4], boxes[np.asarray(rows)[n_idx]], a[:, 4], a[:, 5:7], self._shape)
            velocity[n_idx] = np.where(a[:, 9:10] > 0, 0.5 * (v + a[:, 7:9]), v)
        queries = {"category": classes[rows], "center": (q[:, :2] + q[:, 2:]) / 2, "velocity": velocity,
                   "size": np.sqrt(np.prod(np.clip(q[:, 2:] - q[:, :2], 1, None), axis=1)), "hist": hist[rows],
                   "border": np.array([border[i] for i in rows], dtype=bool),
                   "depth": depths[rows] if depths is not None else np.full(len(rows), np.nan)}
        # one row per lost track: where it was last seen (in the camera's integrated frame), its own velocity and
        # the time since, box size, border, depth, time lost
        a = np.array([(t.category, t.center[0] - t.cam_offset[0], t.center[1] - t.cam_offset[1], t.rel_velocity[0],
                       t.rel_velocity[1], stamp - t.mask_stamp, *t.box, t.depth, stamp - t.last_seen)
                      for t in lost], dtype=np.float64)
        last = a[:, 1:3] + self._cam_offset
        motion = a[:, 3:5] * a[:, 5:6]
        box = a[:, 6:10]
        h, w = self._shape
        out_x = (box[:, 0] <= 0) | (box[:, 2] >= w)        # went out through the left / right border ...
        out_y = (box[:, 1] <= 0) | (box[:, 3] >= h)        # ... top / bottom
        # the path it may have taken: its own motion all the way (hidden, or the camera came back to it), or, out
        # of the view, only along the border it left by (it turned round and came back the same way)
        origin = last + np.where(out_x[:, None], [0.0, 1.0], 1.0) * np.where(out_y[:, None], [1.0, 0.0], 1.0) * \
            np.where((out_x | out_y)[:, None], motion, 0.0)
        candidates = {"category": a[:, 0].astype(np.int64), "origin": origin, "center": last + motion,
                      "size": np.sqrt(np.clip(box[:, 2] - box[:, 0], 1, None) * np.clip(box[:, 3] - box[:, 1], 1,
                                                                                          None)),
                      "border": out_x | out_y, "depth": a[:, 10], "lost": a[:, 11],
                      "hist": [t.hist for t in lost], "velocity": a[:, 3:5]}
        pairs = reid.match(queries, candidates, {**self.reid_settings, "min_size": MIN_REID_SIZE * self._shape[1],
                                                 "min_speed": MIN_REID_SPEED * self._shape[1]})
        return {rows[r]: lost[c] for r, c in pairs.items()}

    def _revive(self, old: _Track, young: _Track | None, stamp: float) -> _Track:
        """The lost track ``old`` continues with this frame's segment; a young track matched to that segment gives
        up its id (never reused) and hands over its fresh state."""
        self._memory.pop(old.id, None)
        if young is not None:
            del self._tracks[young.id]
            young.id, young.first_seen, young.age = old.id, old.first_seen, young.age + old.age
            young.hist = old.hist
            track = young
        else:
            track = old
            track.velocity = (self._cam_velocity[0] + old.rel_velocity[0], self._cam_velocity[1] + old.rel_velocity[1])
        track.source, track.born_new, track.kept = "reidentified", False, 0
        self._tracks[track.id] = track
        return track

    @staticmethod
    def _match_by_distance(boxes: np.ndarray, tracks: list[_Track], shift: np.ndarray, same: np.ndarray,
                           matched: dict[int, _Track], eligible: np.ndarray | None = None) -> dict[int, _Track]:
        """Second stage for what mask IoU left unmatched (small or fast objects, young tracks whose velocity is
        not known yet): centre distance to the predicted centre, below DISTANCE_GATE x the object's size."""
        taken = {id(t) for t in matched.values()}
        rows = np.array([i for i in range(len(boxes)) if i not in matched], dtype=np.int64)
        cols = np.array([j for j, t in enumerate(tracks) if id(t) not in taken
                         and (eligible is None or eligible[j])], dtype=np.int64)
        if not len(rows) or not len(cols):
            return {}
        seg = boxes[rows]
        seg_center = (seg[:, :2] + seg[:, 2:]) / 2
        seg_size = np.sqrt(np.prod(np.clip(seg[:, 2:] - seg[:, :2], 1, None), axis=1))
        track_box = np.array([tracks[j].box for j in cols])
        track_center = np.array([tracks[j].center for j in cols]) + shift[cols]
        track_size = np.sqrt(np.prod(np.clip(track_box[:, 2:] - track_box[:, :2], 1, None), axis=1))
        dist = np.linalg.norm(seg_center[:, None, :] - track_center[None, :, :], axis=2)
        rel = dist / np.maximum(seg_size[:, None], track_size[None, :])
        ok = same[np.ix_(rows, cols)] & (rel < DISTANCE_GATE)
        if not ok.any():
            return {}
        r, c = linear_sum_assignment(np.where(ok, rel, DISTANCE_GATE * 10))
        return {int(rows[a]): tracks[int(cols[b])] for a, b in zip(r, c) if ok[a, b]}

    def _similarity(self, g: np.ndarray, seg_area: np.ndarray, boxes: np.ndarray, tracks: list[_Track],
                    shift: np.ndarray) -> np.ndarray:
        """float64 [K, T] IoU of each segment with each track's mask moved by ``shift`` (its predicted position)."""
        k, n = len(seg_area) - 1, len(tracks)
        stride = self._stride(*self._shape)
        grid_shift = np.round(shift / stride).astype(np.int32)              # [T, 2] x, y in grid cells
        counts = np.array([len(t.ys) for t in tracks])
        owner = np.repeat(np.arange(n), counts)
        qy = np.concatenate([t.ys for t in tracks]) + grid_shift[owner, 1]
        qx = np.concatenate([t.xs for t in tracks]) + grid_shift[owner, 0]
        inside = (qy >= 0) & (qy < g.shape[0]) & (qx >= 0) & (qx < g.shape[1])
        owner = owner[inside]
        hit = g[qy[inside], qx[inside]].astype(np.int64)
        track_area = np.bincount(owner, minlength=n)
        inter = np.bincount(hit * n + owner, minlength=(k + 1) * n).reshape(k + 1, n)[1:]
        union = seg_area[1:, None] + track_area[None, :] - inter
        iou = inter / np.maximum(union, 1)
        small = seg_area[1:] < MIN_GRID_PIXELS
        if small.any():  # too small for the grid: box IoU with the moved track boxes
            moved = np.array([t.box for t in tracks]) + np.tile(shift, 2)
            iou[small] = _box_iou(boxes[small], moved)
        return iou

    def _new_id(self) -> int:
        if self._next_id > MAX_ID:
            self._reset_inside("thing ids wrapped around after MAX_ID")
            self._next_id = THING_ID_BASE + 1
        tid = self._next_id
        self._next_id += 1
        return tid


def _grid_of(array: np.ndarray, grid_shape: tuple, shape: tuple, stride: int) -> np.ndarray:
    """The tracker's sample grid of an image or depth map registered to the label map (same or other size)."""
    array = np.asarray(array)
    if array.shape[:2] == tuple(shape):
        return array[::stride, ::stride][:grid_shape[0], :grid_shape[1]]
    rows = (np.arange(grid_shape[0]) * stride * array.shape[0] // shape[0]).clip(0, array.shape[0] - 1)
    cols = (np.arange(grid_shape[1]) * stride * array.shape[1] // shape[1]).clip(0, array.shape[1] - 1)
    return array[rows[:, None], cols[None, :]]


def _box_velocities(old: np.ndarray, new: np.ndarray, dt: np.ndarray, cam_step: np.ndarray,
                    shape: tuple) -> np.ndarray:
    """float64 [N, 2]: velocity relative to the camera (pixels per second: image motion minus the camera's
    ``cam_step`` [N, 2] over ``dt`` [N] seconds) of objects from their xyxy boxes ``old`` and ``new`` [N, 4].

    Why not always the box centre: an object passing behind an occluder or out of the image is cut, and the centre
    of what is left moves at about half its speed (or backwards). On an axis where the box touches the image border
    on one side, the opposite edge moves with the object; where its extent changed (more than CUT_EXTENT) with both
    edges moving the same way (or one still), one edge stays with the occluder and the other moves with the object:
    the one that moved most relative to the camera (a static occluder's edge moves with the camera). Edges moving
    apart or together are the shape changing, not a cut: the centre is used.
    """
    old, new = np.asarray(old, np.float64).reshape(-1, 4), np.asarray(new, np.float64).reshape(-1, 4)
    step = np.asarray(cam_step, np.float64).reshape(-1, 2)
    limit = np.array([shape[1], shape[0]], np.float64)
    lo = new[:, :2] - old[:, :2] - step                         # [N, 2] x, y
    hi = new[:, 2:] - old[:, 2:] - step
    at_low = (new[:, :2] <= 0) | (old[:, :2] <= 0)
    at_high = (new[:, 2:] >= limit) | (old[:, 2:] >= limit)
    extent_old, extent_new = old[:, 2:] - old[:, :2], new[:, 2:] - new[:, :2]
    changed = np.abs(extent_new - extent_old) > np.maximum(CUT_EXTENT[0], CUT_EXTENT[1] *
                                                           np.maximum(extent_old, extent_new))
    cut = ~at_low & ~at_high & changed & (lo * hi >= 0)
    rel = np.where(cut, np.where(np.abs(lo) > np.abs(hi), lo, hi), (lo + hi) / 2)
    rel = np.where(at_low & ~at_high, hi, np.where(at_high & ~at_low, lo, rel))
    return rel / np.asarray(dt, np.float64).reshape(-1, 1)


def _remap(panoptic: torch.Tensor, lut: np.ndarray) -> torch.Tensor:
    """lut[panoptic] on the map's device, in its dtype (one pass; OpenCV's table lookup for small CPU maps)."""
    if panoptic.device.type == "cpu" and len(lut) <= 256 and panoptic.dim() == 2 and panoptic.numel():
        table = np.zeros(256, dtype=np.int32)
        table[:len(lut)] = lut
        small = panoptic.numpy().astype(np.uint8)
        return torch.from_numpy(cv2.LUT(small, table)).to(panoptic.dtype)
    table = torch.from_numpy(lut).to(panoptic.device)
    index = panoptic.reshape(-1) if panoptic.dtype in (torch.int32, torch.int64) else panoptic.reshape(-1).long()
    return table.index_select(0, index).view(panoptic.shape).to(panoptic.dtype)


def _xyxy(seg: dict) -> tuple[float, float, float, float]:
    x, y, w, h = (float(v) for v in seg.get("bbox", (0, 0, 0, 0)))
    return x, y, x + w, y + h


def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU [len(a), len(b)] of xyxy boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def _merge_duplicate_stuff(segments: list[dict]) -> list[dict]:
    """One segment per stuff class (they share the class's fixed id): areas added, boxes joined."""
    seen: dict[int, dict] = {}
    out = []
    for seg in segments:
        if seg["isthing"]:
            out.append(seg)
            continue
        first = seen.get(int(seg["category_id"]))
        if first is None:
            seen[int(seg["category_id"])] = seg
            out.append(seg)
            continue
        a, b = _xyxy(first), _xyxy(seg)
        x0, y0, x1, y1 = min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])
        merged = {**first, "area": int(first.get("area", 0)) + int(seg.get("area", 0)),
                  "bbox": [int(x0), int(y0), int(x1 - x0), int(y1 - y0)],
                  "score": max(float(first.get("score", 1.0)), float(seg.get("score", 1.0)))}
        out[out.index(first)] = merged
        seen[int(seg["category_id"])] = merged
    return out
