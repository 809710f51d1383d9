"""PanopticTracker: turns the per-frame segment ids of a PanopticResult into ids that stay with an object.

Id layout (the values of ``PanopticResult.panoptic`` and ``segment["id"]`` after :meth:`PanopticTracker.update`):

- ``0``: unknown / void, as without tracking;
- ``1 .. THING_ID_BASE - 1``: stuff; ``id = channel index + 1`` (:func:`stuff_id`), fixed for a model, so "road"
  has the same id in every frame and every run;
- ``> THING_ID_BASE``: things; ``THING_ID_BASE + 1``, ``+ 2``, ... in order of first appearance. A thing id is never
  reused within the tracker's life: a reset (stamp jump, model change) ends every track but keeps counting.
  After ``MAX_ID`` (the int32 limit) the counter starts again at ``THING_ID_BASE + 1`` with a reset.

Design (one pass per frame, cost independent of the number of track/segment pairs; the tracks are the rows of a
:class:`~panoptic_ros.tracking.track_table.TrackTable`, so each step is a few array operations over all of them):

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
   ``track_reid_memory``; only tracks seen in ``track_reid_min_frames`` frames or more, as trackers confirm a
   track after a few hits: on a network's outputs most shorter-lived tracks are false segments, and as rivals
   they made real returns ambiguous): class, appearance, the path their own motion allows (relative to the camera, whose
   image motion comes from phase correlation of the background), direction and course of motion, depth; a
   confident unambiguous match revives the old id (:mod:`panoptic_ros.tracking.reid`). Velocities are measured on
   the free edge of boxes cut by an occluder or the image border (:func:`_box_velocities`). A revival is not final
   for ``track_reid_handback`` seconds: the lost track's state before it stays behind (a "ghost"), and a later
   segment that fits that state better than the revived segment did (by ``track_reid_margin``), and of which the
   revived track's own segment now is no rival, takes the id back; the track revived with it gets a new id. One
   wrong revival among look-alikes then no longer costs the rightful object its return as well.
7. Matched segments continue their track; unmatched segments start new tracks whose velocity starts at the median
   of the established tracks' (the camera's motion); unmatched tracks wait (lost) until they are too old, then
   move to the re-identification memory. The camera's motion is measured on every frame with an image, things
   or not, so each step spans one frame.

Every thing segment of the returned result gains ``track_age`` (frames the track has been seen, this one included),
``first_seen`` (stamp of its first frame, seconds) and ``id_source``: how its id was obtained this frame, one of
ID_SOURCES (``new``, ``continued``, ``reidentified``).
"""
from __future__ import annotations

import logging
import math
import time

import cv2
import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from ..config.schema import InferenceConfig, PanopticConfig
from ..panoptic.result import PanopticResult
from ..pipeline.timing import StageTimer
from . import reid
from .track_table import CONTINUED, ID_SOURCES, NEW, REIDENTIFIED, TrackTable

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
CAMERA_BLUR = 5                 # the camera's high-pass: minus the local mean over this many grid cells square
_REACH = np.ones((3, 3), np.uint8)   # things' cells grown by one cell (two, the high-pass's whole reach, made
#                                      re-identification on network outputs worse on the development videos)
# where an update's time goes (last_stages_s): the frame's set-up, sample grid, mask IoU and assignment; colour
# histograms (and depths); the camera's phase correlation; re-identification (with the box velocities it needs);
# the tracks' state and the segment list; the id remap of the full-resolution map
TRACK_STAGES = ("match", "appearance", "camera", "reidentify", "state", "remap")


def stuff_id(channel: int) -> int:
    """The fixed id of a stuff class (channel index of the model's categories)."""
    return int(channel) + 1


class PanopticTracker:
    """Stable ids for the segments of consecutive PanopticResults of one camera (see the module docstring).

    ``PanopticTracker(inference_cfg, categories)``: InferenceConfig (its ``track_*`` fields) and the model's
    CategoryMap (or None). ``update(result, stamp)`` returns a new result with stable ids; ``reset(reason)`` ends
    every track; ``last_reset`` is the reason of a reset done inside the last ``update()`` (else None);
    ``last_update_s`` the wall time of the last ``update()``, ``last_stages_s`` its split into TRACK_STAGES (0 for
    a stage not run: no things, or no image).
    """

    def __init__(self, inference_cfg: InferenceConfig | None = None, categories=None):
        if categories is not None and len(categories) >= THING_ID_BASE:
            raise ValueError(f"tracking supports fewer than {THING_ID_BASE} classes (stuff ids are channel + 1), "
                             f"the model has {len(categories)}")
        self.categories = categories
        self.configure(inference_cfg if inference_cfg is not None else InferenceConfig())
        self._next_id = THING_ID_BASE + 1
        self._table = TrackTable()                # live tracks and the memory of ended ones
        self._cam_velocity = (0.0, 0.0)           # the camera's image motion, px / s
        self._cam_offset = (0.0, 0.0)             # ... integrated over the frame stamps
        self._prev_offset = (0.0, 0.0)
        self._frame_dt = 0.0
        self._prev_gray: np.ndarray | None = None   # the last frame's grey grid image (camera motion)
        self._last_stamp: float | None = None
        self._shape: tuple[int, int] | None = None
        self.last_reset: str | None = None
        self.last_update_s = 0.0
        self.last_stages_s = dict.fromkeys(TRACK_STAGES, 0.0)

    @classmethod
    def from_config(cls, cfg: PanopticConfig | InferenceConfig | None = None, categories=None) -> PanopticTracker:
        """From a PanopticConfig (its inference section) or an InferenceConfig."""
        inference = cfg.inference if isinstance(cfg, PanopticConfig) else cfg
        return cls(inference, categories)

    def configure(self, inference: InferenceConfig) -> None:
        """Take new ``track_*`` settings (run-time parameters); the tracks are kept, unless the comparison grid
        changed (track_iou_pixels: their masks are stored on the old one)."""
        if getattr(self, "iou_pixels", None) not in (None, int(inference.track_iou_pixels)):
            self.reset(f"track_iou_pixels changed from {self.iou_pixels} to {int(inference.track_iou_pixels)}")
        self.max_age = float(inference.track_max_age)
        self.min_iou = float(inference.track_min_iou)
        self.motion = bool(inference.track_motion)
        self.iou_pixels = int(inference.track_iou_pixels)
        self.reid = bool(inference.track_reid)
        self.reid_age = float(inference.track_reid_age)
        self.reid_memory = int(inference.track_reid_memory)
        self.reid_min_frames = int(inference.track_reid_min_frames)
        self.reid_handback = float(inference.track_reid_handback)
        self.reid_settings = {"similarity": float(inference.track_reid_similarity),
                              "distance": float(inference.track_reid_distance),
                              "margin": float(inference.track_reid_margin), "depth": float(inference.track_reid_depth)}

    def reset(self, reason: str) -> None:
        """End every track (ids keep counting: none is reused)."""
        log.debug("tracker reset: %s", reason)
        self._table.clear()
        self._last_stamp = None
        self._shape = None
        self._cam_velocity = self._cam_offset = (0.0, 0.0)
        self._prev_gray = None

    @property
    def num_tracks(self) -> int:
        """Live tracks (seen within track_max_age)."""
        return int(self._table.live.sum())

    @property
    def num_remembered(self) -> int:
        """Ended tracks in the re-identification memory."""
        return int((~self._table.live & ~self._table.ghost).sum())

    # ------------------------------------------------------------------------------------------ update
    def update(self, result: PanopticResult, stamp: float, image: np.ndarray | None = None,
               depth: np.ndarray | None = None) -> PanopticResult:
        """The result with stable segment ids (a new PanopticResult on the same device; the input is unchanged).

        image: the frame (uint8 HxWx3, any channel order, used consistently), for re-identification's appearance;
        depth: HxW metres registered to it (any scale of the image), for its depth gate. Without an image no
        segment is re-identified."""
        start = time.perf_counter()
        timer = StageTimer(result.panoptic.device)
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
        self._end_tracks(stamp)

        segments = _merge_duplicate_stuff(result.segments)
        things = [s for s in segments if s["isthing"]]
        if self._next_id + len(things) - 1 > MAX_ID:
            self._reset_inside("thing ids wrapped around after MAX_ID")
            self._next_id = THING_ID_BASE + 1
            self._shape, self._last_stamp = shape, stamp
        max_in = max((int(s["id"]) for s in result.segments), default=0)
        lut = np.zeros(max_in + 1, dtype=np.int32)          # input id -> stable id
        for seg in result.segments:
            if not seg["isthing"]:
                lut[int(seg["id"])] = stuff_id(seg["category_id"])
        if things:
            thing_ids = self._associate(result.panoptic, things, stamp, image, depth, timer)
        else:
            thing_ids = ()
            self._camera_without_things(result.panoptic, image)
        thing_iter = zip(*thing_ids)
        out_segments = []
        for seg in segments:
            seg = dict(seg)
            if seg["isthing"]:
                tid, age, first_seen, source = next(thing_iter)
                seg.update(track_age=age, first_seen=first_seen, id_source=ID_SOURCES[source])
                lut[int(seg["id"])] = tid
            else:
                tid = stuff_id(seg["category_id"])
            seg["id"] = tid
            out_segments.append(seg)
        timer.lap("state")
        stable = _remap(result.panoptic, lut)
        timer.lap("remap")
        self.last_update_s = time.perf_counter() - start
        self.last_stages_s = {name: timer.seconds.get(name, 0.0) for name in TRACK_STAGES}
        return PanopticResult(stable, out_segments)

    def _end_tracks(self, stamp: float) -> None:
        """Live tracks unseen for more than track_max_age end: into the memory (with re-identification, when their
        appearance is known and they were seen in track_reid_min_frames frames), else gone; then the memory drops
        entries older than track_reid_age and the oldest beyond track_reid_memory."""
        t = self._table
        expired = t.live & (stamp - t.last_seen > self.max_age)
        if expired.any():
            remember = expired & t.has_hist & (t.age >= self.reid_min_frames) \
                if self.reid and self.reid_age > self.max_age else np.zeros_like(expired)
            rows = np.flatnonzero(remember)
            rows = rows[np.argsort(t.order[rows], kind="stable")]
            t.live[rows] = False
            t.order[rows] = t.next_order(len(rows))
            t.delete(expired & ~remember)
        if not self.reid:
            t.delete(~t.live)
            return
        ghosts = np.flatnonzero(t.ghost)    # (kept while the revived track holds the id, track_reid_handback s)
        if len(ghosts):
            held = set(t.id[t.live].tolist())
            t.delete(ghosts[(stamp > t.ghost_until[ghosts]) | (self.reid_handback <= 0) |
                            np.array([i not in held for i in t.id[ghosts].tolist()])])
        t.delete(~t.live & (stamp - t.last_seen > self.reid_age))
        excess = len(t) - int(t.live.sum()) - self.reid_memory
        if excess > 0:
            t.delete(t.memory_rows()[:excess])

    def _reset_inside(self, reason: str) -> None:
        self.reset(reason)
        self.last_reset = reason

    def _stride(self, height: int, width: int) -> int:
        if self.iou_pixels <= 0:
            return 1
        return max(1, int(round(math.sqrt(height * width / self.iou_pixels))))

    def _associate(self, panoptic: torch.Tensor, things: list[dict], stamp: float, image: np.ndarray | None,
                   depth: np.ndarray | None, timer: StageTimer) -> tuple[list, list, list, list]:
        """Stable id, frames seen, first stamp and ID_SOURCES index of each thing segment, in order; updates,
        creates, revives and keeps tracks. ``timer``: the update's, lapped at the end of each stage."""
        t = self._table
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
        centers = (boxes[:, :2] + boxes[:, 2:]) / 2
        classes = np.fromiter((int(s["category_id"]) for s in things), dtype=np.int64, count=k)

        live = t.live_rows()
        match = self._match(g, seg_area, boxes, classes, stamp, image is not None, live)   # [k] row, -1
        matched = np.flatnonzero(match >= 0)
        mrows = match[matched]
        timer.lap("match")

        # appearance (and depth) of every segment: what re-identification compares and the tracks keep
        hist = depths = camera_step = None
        if self.reid and image is not None:
            image_grid = _grid_of(image, g.shape, self._shape, stride)
            hist = reid.colour_histograms(image_grid, g, k)
            if depth is not None:
                depths = reid.segment_depths(_grid_of(depth, g.shape, self._shape, stride), g, k)
            timer.lap("appearance")
            camera_step = self._camera_step(image_grid, g, stride)
            timer.lap("camera")
        else:
            self._prev_gray = None      # (the next camera step must span one frame)
        border = np.logical_or(*_border_sides(boxes, self._shape))

        # the camera's image motion since the last frame: phase correlation of the background, or else the median
        # displacement of the tracks seen whole in the last frame and now
        step = None
        if self._frame_dt > 0:
            if camera_step is not None:
                step = camera_step
            else:
                whole = (t.mask_stamp[mrows] == self._last_stamp - self._frame_dt) & (t.kept[mrows] == 0)
                if whole.sum() >= MIN_CAMERA_TRACKS:
                    step = tuple(_median(centers[matched[whole]] - t.center[mrows[whole]]).tolist())
        if step is not None:
            self._take_camera_step(step)
        cam_offset = np.array(self._cam_offset)
        # every continued track's motion relative to the camera since its mask was seen, NaN where unknown
        rel_motion = np.full((k, 2), np.nan)
        since = stamp - t.mask_stamp[mrows]
        moved = since > 0
        if moved.any():
            rows = mrows[moved]
            rel_motion[matched[moved]] = _box_velocities(t.box[rows], boxes[matched[moved]], since[moved],
                                                         cam_offset - t.cam_offset[rows], self._shape)
        revived, revival_cost = self._reidentify(match, live, boxes, classes, hist, depths, border, stamp,
                                                 rel_motion, seg_area) if hist is not None else (np.full(k, -1), None)
        timer.lap("reidentify")

        # new tracks start with the median velocity of the established ones (camera motion), not with zero
        fresh = (match < 0) & (revived < 0)
        established = mrows[t.age[mrows] > 1] if fresh.any() or camera_step is None else mrows[:0]
        prior = _median(t.velocity[established]) if len(established) else np.zeros(2)
        if step is None and len(established) >= MIN_CAMERA_TRACKS:
            self._cam_velocity = tuple(prior.tolist())

        # the grid pixels of each segment, for the next frames
        order = np.argsort(g.ravel(), kind="stable")[seg_area[0]:]    # radix sort: pixels grouped by segment
        gh, gw = g.shape                        # ... as flat indices into the padded grid (see _similarity)
        order = (order + order // gw * (2 * gw) + (3 * gh * gw + gw)).astype(np.int32)
        ends = np.cumsum(seg_area[1:]).tolist()
        masks = [order[b:e] for b, e in zip([0] + ends[:-1], ends)]

        row, handed = self._revive(match, revived, revival_cost, stamp)
        # the new tracks, and an order for them and for the tracks revived from the memory (segment order)
        new = np.flatnonzero(fresh)
        if len(new):
            new_ids = np.arange(self._next_id, self._next_id + len(new))
            self._next_id += len(new)
            # (mask, box, centre, stamps and size are set below with every segment seen in this frame)
            row[new] = t.append(len(new), [masks[i] for i in new.tolist()], id=new_ids, category=classes[new],
                                first_seen=stamp, velocity=prior)
        placed = fresh | ((revived >= 0) & (t.order[row] < 0))
        t.order[row[placed]] = t.next_order(int(placed.sum()))

        continued = (match >= 0) & (revived < 0)
        t.source[row[continued]] = CONTINUED
        t.source[handed] = NEW            # (tracks that handed their id back got a new one)
        # partly hidden: keep the whole mask, its box and the velocity (a few frames)
        hidden = continued & (seg_area[1:] < OCCLUDED_AREA * t.mask_size[row]) & (t.kept[row] < MAX_KEPT_MASK)
        t.kept[row[hidden]] += 1
        t.last_seen[row[hidden]] = stamp
        seen = np.flatnonzero(~hidden)
        r = row[seen]
        since = stamp - t.mask_stamp[r]
        vel = continued[seen] & (since > 0) & (t.kept[r] == 0)
        if vel.any():
            i, rv = seen[vel], r[vel]
            rel = rel_motion[i]
            absolute = rel + (cam_offset - t.cam_offset[rv]) / since[vel][:, None]
            old = t.age[rv] > 1
            a = VELOCITY_SMOOTHING
            t.velocity[rv] = np.where(old[:, None], a * absolute + (1 - a) * t.velocity[rv], absolute)
            t.rel_velocity[rv] = np.where(old[:, None], a * rel + (1 - a) * t.rel_velocity[rv], rel)
        t.center[r], t.box[r], t.last_seen[r], t.mask_stamp[r] = centers[seen], boxes[seen], stamp, stamp
        t.mask_size[r], t.kept[r], t.border[r], t.cam_offset[r] = seg_area[1:][seen], 0, border[seen], cam_offset
        for i, j in zip(seen.tolist(), r.tolist()):
            t.masks[j] = masks[i]
        if hist is not None:     # appearance: the running mean of the frames a track is seen
            first = ~t.has_hist[r] | (t.age[r] == 0)
            t.hist[r[first]] = hist[seen[first]]
            t.has_hist[r[first]] = True
            blend = ~first & (seg_area[1:][seen] >= MIN_GRID_PIXELS)   # (too few grid points: keep it)
            t.hist[r[blend]] = 0.5 * (t.hist[r[blend]] + hist[seen[blend]])
        if depths is not None:
            t.depth[r] = depths[seen]
        t.age[row] += 1
        out = (t.id[row].tolist(), t.age[row].tolist(), t.first_seen[row].tolist(), t.source[row].tolist())
        t.delete(t.id < 0)       # rows given up by a revival
        return out

    def _match(self, g: np.ndarray, seg_area: np.ndarray, boxes: np.ndarray, classes: np.ndarray, stamp: float,
               with_image: bool, live: np.ndarray) -> np.ndarray:
        """[k] table row of the live track each segment continues (-1: none): mask IoU with the moved track masks
        (optimal assignment), then centre distance for what is left."""
        t = self._table
        k = len(classes)
        if not len(live):
            return np.full(k, -1)
        n = len(live)
        since = stamp - t.mask_stamp[live]
        shift = t.velocity[live] * since[:, None] if self.motion else np.zeros((n, 2))
        same = classes[:, None] == t.category[live][None, :]
        iou = self._similarity(g, seg_area, boxes, live, shift)
        ok = same & (iou > 0) & (iou >= self.min_iou)
        col = np.full(k, -1)
        if ok.any():
            r, c = linear_sum_assignment(np.where(ok, -iou, 0.0))
            good = ok[r, c]
            col[r[good]] = c[good]
        if (col >= 0).sum() < min(k, n):
            # with re-identification, tracks unseen in the last frame are left to it (appearance and motion
            # decide), not to distance alone: an object emerging where another one just went out of sight
            eligible = t.last_seen[live] >= self._last_stamp - self._frame_dt if self.reid and with_image else None
            self._match_by_distance(boxes, t.center[live], t.box[live], shift, same, col, eligible)
        return np.where(col >= 0, live[col], -1)

    def _revive(self, match: np.ndarray, revived: np.ndarray, cost: np.ndarray | None,
                stamp: float) -> tuple[np.ndarray, list[int]]:
        """[k] table row of each segment's track after the revivals (-1: new track, added by the caller), and the
        rows of the live tracks that handed their id back (they got a new one). A lost track continues with its
        segment; a young track matched to that segment gives up its id (never reused) and hands over its fresh
        state (its row is marked for deletion: id -1). A revived track that comes back from the memory gets order
        -1 (placed by the caller). Each revival first leaves a copy of the lost track's state behind (a ghost,
        track_reid_handback seconds, with the revival's cost): a segment that later fits that state better takes the
        id back from the track revived with it, which gets a new id."""
        t = self._table
        row = match.copy()
        handed = []
        for i in np.flatnonzero(revived >= 0).tolist():
            old, young = int(revived[i]), int(match[i])
            if t.ghost[old]:                  # an id handback: the live holder of the id gets a new one
                for h in np.flatnonzero(t.live & (t.id == t.id[old])).tolist():
                    t.id[h], t.born_new[h], t.first_seen[h], t.reid_area[h] = self._next_id, True, stamp, 0
                    self._next_id += 1
                    handed.append(h)
                t.ghost[old] = False
            if cost is not None and self.reid_handback > 0:
                t.copy([old], live=False, ghost=True, ghost_until=stamp + self.reid_handback, revival_cost=cost[i],
                       order=t.next_order(1))
            from_memory = not t.live[old]
            if young >= 0:
                t.id[young], t.first_seen[young] = t.id[old], t.first_seen[old]
                t.age[young] += t.age[old]
                t.hist[young], t.has_hist[young] = t.hist[old], t.has_hist[old]
                t.order[young] = t.order[old]
                t.id[old] = -1
                track = young
            else:
                track = old
                t.live[old] = True
                t.velocity[old] = np.asarray(self._cam_velocity) + t.rel_velocity[old]
            if from_memory:
                t.order[track] = -1
            t.source[track], t.born_new[track], t.kept[track] = REIDENTIFIED, False, 0
            row[i] = track
        return row, handed

    def _camera_without_things(self, panoptic: torch.Tensor, image: np.ndarray | None) -> None:
        """A frame without things still measures the camera's motion, so the next frame's step spans one frame."""
        if not (self.reid and image is not None):
            self._prev_gray = None
            return
        stride = self._stride(*self._shape)
        g = np.zeros(tuple(panoptic[::stride, ::stride].shape), dtype=np.uint8)
        step = self._camera_step(_grid_of(image, g.shape, self._shape, stride), g, stride)
        if step is not None and self._frame_dt > 0:
            self._take_camera_step(step)

    def _take_camera_step(self, step: tuple[float, float]) -> None:
        """The camera's image motion since the last frame (pixels, measured): its integrated offset and velocity."""
        self._cam_offset = (self._prev_offset[0] + step[0], self._prev_offset[1] + step[1])
        self._cam_velocity = (step[0] / self._frame_dt, step[1] / self._frame_dt)

    def _camera_step(self, image_grid: np.ndarray, g: np.ndarray, stride: int) -> tuple[float, float] | None:
        """The image's shift since the last frame (pixels) by phase correlation of the grey grid images, when the
        correlation is clear; else None. Only the background counts: the image is high-passed (its local mean
        removed) and the things' grid cells, grown by one cell, are zeroed, so moving objects (strong edges on a
        plain background) do not pull the estimate towards their own motion."""
        gray = (image_grid[..., 1] if image_grid.ndim == 3 else image_grid).astype(np.float32)   # green: enough
        gray -= cv2.blur(gray, (CAMERA_BLUR, CAMERA_BLUR))
        gray[cv2.dilate((g > 0).view(np.uint8), _REACH) > 0] = 0
        prev, self._prev_gray = self._prev_gray, gray
        if prev is None or prev.shape != gray.shape or min(gray.shape) < 8 or not prev.any() or not gray.any():
            return None             # (nothing to correlate: a plain view, or everything covered by things)
        (sx, sy), response = cv2.phaseCorrelate(prev, gray)
        return (sx * stride, sy * stride) if response > CAMERA_RESPONSE else None

    def _emerging(self, rows: np.ndarray, area: np.ndarray, stamp: float) -> np.ndarray:
        """Which of these (matched) tracks are compared with the lost ones again, as a returning object still coming
        into sight: born new less than YOUNG_SECONDS ago, and seen in at most two frames (its own motion is known
        from the second) or grown by REID_GROWTH since it was last compared (same answer otherwise)."""
        t = self._table
        young = t.born_new[rows] & (stamp - t.first_seen[rows] <= reid.YOUNG_SECONDS)
        out = young & ((t.age[rows] <= 1) | (area > REID_GROWTH * t.reid_area[rows]))
        t.reid_area[rows[out]] = area[out]
        return out

    def _reidentify(self, match: np.ndarray, live: np.ndarray, boxes: np.ndarray, classes: np.ndarray, hist: np.ndarray,
                    depths: np.ndarray | None, border: np.ndarray, stamp: float, rel_motion: np.ndarray,
                    seg_area: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[k] table row of the lost track (or ghost: an id handback) each segment revives (-1: none; reid.match
        decides) and [k] the cost of each revival (NaN: none): unmatched segments and those of tracks born new
        less than YOUNG_SECONDS ago. A young track's own motion (this frame included) goes with it: an object
        emerging where a look-alike just went out of sight, but moving the other way, is not that one."""
        t = self._table
        k = len(boxes)
        revived, revival_cost = np.full(k, -1), np.full(k, np.nan)
        query = match < 0
        matched = np.flatnonzero(~query)
        query[matched] = self._emerging(match[matched], seg_area[1:][matched], stamp)
        rows = np.flatnonzero(query)
        if not len(rows):
            return revived, revival_cost
        wanted = np.zeros(int(max(t.category.max(initial=0), classes.max())) + 1, dtype=bool)
        wanted[classes[rows]] = True
        wanted = wanted[t.category]
        taken = np.zeros(len(t), dtype=bool)
        taken[match[matched]] = True
        # (tracks seen in fewer than track_reid_min_frames frames: mostly the network's false segments)
        wanted &= t.age >= self.reid_min_frames
        live = live[~taken[live] & (t.last_seen[live] < stamp) & t.has_hist[live] & wanted[live]]
        memory = t.memory_rows()
        lost = np.concatenate([live, memory[wanted[memory]]])
        if not len(lost):
            return revived, revival_cost

        def queries_of(segs: np.ndarray) -> dict:
            """reid.match's queries: these segments' class, centre, own motion, size, appearance, border, depth."""
            q = boxes[segs]
            velocity = rel_motion[segs]     # a young track's motion relative to the camera, this frame in
            young = match[segs]
            smooth = (young >= 0) & (t.age[young] > 1)
            a = VELOCITY_SMOOTHING
            velocity[smooth] = a * velocity[smooth] + (1 - a) * t.rel_velocity[young[smooth]]
            return {"category": classes[segs], "center": (q[:, :2] + q[:, 2:]) / 2, "velocity": velocity,
                    "size": np.sqrt(np.prod(np.clip(q[:, 2:] - q[:, :2], 1, None), axis=1)), "hist": hist[segs],
                    "border": border[segs],
                    "depth": depths[segs] if depths is not None else np.full(len(segs), np.nan)}

        # the lost tracks, and the states lost tracks had before their recent revivals (standby: only for the
        # segments no lost track takes, and no rivals of them; an id handback when clearly better than the revival)
        candidates = {**self._candidates(lost, stamp), "standby": t.ghost[lost]}
        w = self._shape[1]
        settings = {**self.reid_settings, "min_size": MIN_REID_SIZE * w, "min_speed": MIN_REID_SPEED * w}
        for r, (c, cost) in reid.match_costs(queries_of(rows), candidates, settings).items():
            if t.ghost[lost[c]]:
                if not cost + self.reid_settings["margin"] < t.revival_cost[lost[c]]:
                    continue
                # ... and when the revived track's own segment now (often seen whole only after its revival) is
                # no rival of this one for that state
                holder = np.flatnonzero(np.isin(match, np.flatnonzero(t.live & (t.id == t.id[lost[c]]))))
                if len(holder) and reid.match(queries_of(np.concatenate([rows[r:r + 1], holder])),
                                              self._candidates(lost[c:c + 1], stamp), settings) != {0: 0}:
                    continue
            revived[rows[r]], revival_cost[rows[r]] = lost[c], cost
        return revived, revival_cost

    def _candidates(self, lost: np.ndarray, stamp: float) -> dict:
        """reid.match's candidates: each lost track's class, appearance, where it was last seen (in the camera's
        integrated frame) moved with the camera since, its own motion since, box size, border, depth, time lost."""
        t = self._table
        last = t.center[lost] - t.cam_offset[lost] + np.asarray(self._cam_offset)
        motion = t.rel_velocity[lost] * (stamp - t.mask_stamp[lost])[:, None]
        box = t.box[lost]
        out_x, out_y = _border_sides(box, self._shape)    # went out through the left / right, top / bottom border
        # the path it may have taken: its own motion all the way (hidden, or the camera came back to it), or, out
        # of the view, only along the border it left by (it turned round and came back the same way)
        origin = last + np.where(out_x[:, None], [0.0, 1.0], 1.0) * np.where(out_y[:, None], [1.0, 0.0], 1.0) * \
            np.where((out_x | out_y)[:, None], motion, 0.0)
        extent = np.clip(box[:, 2:] - box[:, :2], 1, None)
        return {"id": t.id[lost], "category": t.category[lost], "origin": origin, "center": last + motion,
                "size": np.sqrt(extent[:, 0] * extent[:, 1]), "border": out_x | out_y, "depth": t.depth[lost],
                "lost": stamp - t.last_seen[lost], "hist": t.hist[lost], "velocity": t.rel_velocity[lost]}

    @staticmethod
    def _match_by_distance(boxes: np.ndarray, centers: np.ndarray, track_boxes: np.ndarray, shift: np.ndarray,
                           same: np.ndarray, col: np.ndarray, eligible: np.ndarray | None = None) -> None:
        """Second stage for what mask IoU left unmatched (small or fast objects, young tracks whose velocity is
        not known yet): centre distance to the predicted centre, below DISTANCE_GATE x the object's size. Fills
        ``col`` ([k] track column of each segment, -1 = none) in place."""
        taken = np.zeros(len(centers), dtype=bool)
        taken[col[col >= 0]] = True
        rows = np.flatnonzero(col < 0)
        cols = np.flatnonzero(~taken if eligible is None else ~taken & eligible)
        if not len(rows) or not len(cols):
            return
        seg = boxes[rows]
        seg_center = (seg[:, :2] + seg[:, 2:]) / 2
        seg_size = np.sqrt(np.prod(np.clip(seg[:, 2:] - seg[:, :2], 1, None), axis=1))
        track_box = track_boxes[cols]
        track_center = centers[cols] + shift[cols]
        track_size = np.sqrt(np.prod(np.clip(track_box[:, 2:] - track_box[:, :2], 1, None), axis=1))
        dist = np.linalg.norm(seg_center[:, None, :] - track_center[None, :, :], axis=2)
        rel = dist / np.maximum(seg_size[:, None], track_size[None, :])
        ok = same[np.ix_(rows, cols)] & (rel < DISTANCE_GATE)
        if not ok.any():
            return
        r, c = linear_sum_assignment(np.where(ok, rel, DISTANCE_GATE * 10))
        good = ok[r, c]
        col[rows[r[good]]] = cols[c[good]]

    def _similarity(self, g: np.ndarray, seg_area: np.ndarray, boxes: np.ndarray, live: np.ndarray,
                    shift: np.ndarray) -> np.ndarray:
        """float64 [K, T] IoU of each segment with each live track's mask moved by ``shift`` (its predicted
        position)."""
        t = self._table
        k, n = len(seg_area) - 1, len(live)
        gh, gw = g.shape
        # the grid inside a border of its own size marked k + 1 ("outside the image"): a mask moved by at most
        # the grid's size stays within it, so one gather and one count do it (the masks are stored as flat
        # indices into this padded grid)
        padded = np.full((3 * gh, 3 * gw), k + 1, dtype=g.dtype)
        padded[gh:2 * gh, gw:2 * gw] = g
        stride = self._stride(*self._shape)
        cells = np.round(shift / stride)                                      # [T, 2] x, y in grid cells
        offset = (np.clip(cells[:, 1], -gh, gh) * (3 * gw) + np.clip(cells[:, 0], -gw, gw)).astype(np.int64)
        owner = np.repeat(np.arange(n), t.mask_size[live])
        flat = np.concatenate([t.masks[j] for j in live.tolist()]) + offset[owner]
        hit = padded.ravel()[flat].astype(np.int64)
        counts = np.bincount(hit * n + owner, minlength=(k + 2) * n).reshape(k + 2, n)
        track_area = t.mask_size[live] - counts[k + 1]           # its pixels still inside the image
        inter = counts[1:k + 1]
        union = seg_area[1:, None] + track_area[None, :] - inter
        iou = inter / np.maximum(union, 1)
        small = seg_area[1:] < MIN_GRID_PIXELS
        if small.any():  # too small for the grid: box IoU with the moved track boxes
            iou[small] = _box_iou(boxes[small], t.box[live] + np.tile(shift, 2))
        return iou


def _grid_of(array: np.ndarray, grid_shape: tuple, shape: tuple, stride: int) -> np.ndarray:
    """The tracker's sample grid of an image or depth map registered to the label map (same or other size)."""
    array = np.asarray(array)
    if array.shape[:2] == tuple(shape):
        view = array[::stride, ::stride][:grid_shape[0], :grid_shape[1]]
        if view.ndim != 3:
            return view                           # (a depth grid: segment_depths copies it once as float64)
        out = np.empty(view.shape, array.dtype)   # contiguous, channel by channel: 3x faster than in one copy of
        for c in range(view.shape[2]):            # 3-byte pixels, and every later pass over it is then fast
            out[..., c] = view[..., c]
        return out
    # (grid point i is label-map pixel i * stride < shape[0], so i * stride * array.shape[0] // shape[0] lies
    # inside the array: no clipping needed)
    rows = np.arange(grid_shape[0]) * stride * array.shape[0] // shape[0]
    cols = np.arange(grid_shape[1]) * stride * array.shape[1] // shape[1]
    return array[rows[:, None], cols[None, :]]


def _border_sides(boxes: np.ndarray, shape: tuple) -> tuple[np.ndarray, np.ndarray]:
    """bool [N] each: whether each xyxy box touches the image's left or right border, and its top or bottom border
    (shape: height, width). Such a box shows a cut object: entering, leaving, or larger than the view."""
    h, w = shape
    return (boxes[:, 0] <= 0) | (boxes[:, 2] >= w), (boxes[:, 1] <= 0) | (boxes[:, 3] >= h)


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


def _median(rows: np.ndarray) -> np.ndarray:
    """np.median(rows, axis=0) of a small [n, 2] array (n >= 1), without np.median's overhead (same values)."""
    s = np.sort(rows, axis=0)
    n = len(s)
    return (s[(n - 1) // 2] + s[n // 2]) / 2


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
