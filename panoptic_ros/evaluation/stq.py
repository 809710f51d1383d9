"""Segmentation and Tracking Quality (STQ, Weber et al., "STEP: Segmenting and Tracking Every Pixel", 2021) and
ID switches, fed frame by frame.

Usage::

    ev = STQEvaluator(categories)                      # the dataset's CategoryMap
    for each frame of each video, in order:
        ev.add(gt_pan, gt_segments, pred_pan, pred_segments, sequence=video_id)
    ev.summarize()   # {"stq", "aq", "sq", "per_sequence", "id_switches", "id_switches_per_100", "id_keep", ...}

Maps are segment-id arrays [H, W] (0 = void); segments are COCO panoptic ``segments_info`` dicts with dataset
category ids (``result_to_coco`` gives them for predictions). A ground-truth object is ``(category, track_id)``
(``track_id`` defaults to the segment ``id``), a predicted one ``(category, id)``.

Definitions, as the STEP reference (deeplab2 ``STQuality``):

- AQ = 1/|G| sum_g 1/|g| sum_{p: TPA(p,g) > 0} TPA(p,g) x TPA / (TPA + FPA + FNA), over the ground-truth thing tracks
  g of all videos (|G| of them), with |g| the track's pixels over the whole video, TPA(p,g) = |p and g|,
  FPA = |p| - TPA, FNA = |g| - TPA. Pixels of crowd ground truth are excluded from both sides; predicted thing
  pixels on void ground truth count (as FPA).
- SQ = mean IoU of the semantic classes (from the panoptic maps) over the classes present in ground truth or
  prediction, accumulated over all frames; void ground-truth pixels are skipped, void predictions on labelled pixels
  are false negatives of their class (the void column itself is not averaged as a class).
- STQ = sqrt(AQ x SQ) (the geometric mean, as defined).

Also (not part of STQ): a ground-truth thing matches a prediction of its class in a frame when their IoU > 0.5
(unique, as in PQ). An ID switch is a matched track whose predicted id differs from the one it had at its previous
match; ``id_switches_per_100`` = 100 x switches / frames. ``id_keep`` is the fraction of tracks matched in two
consecutive frames whose predicted id is the same in both.

With them, ``summarize()["identity"]``: IDF1, HOTA / AssA, the re-identification rate and wrong merges
(:mod:`panoptic_ros.evaluation.idmetrics`), from the same frames (``stamp``: seconds; default frame index / 10).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from ..data.categories import CategoryMap
from .idmetrics import IdentityMetrics

DEFAULT_FPS = 10.0   # frame rate assumed for the identity metrics' stamps when add() gets none


class STQInputError(ValueError):
    """Invalid STQ input (mismatched sizes, unknown category)."""


class _Sequence:
    def __init__(self):
        self.gt_area: dict[tuple, float] = defaultdict(float)
        self.pred_area: dict[tuple, float] = defaultdict(float)
        self.inter: dict[tuple, float] = defaultdict(float)
        self.confusion: np.ndarray | None = None
        self.frames = 0
        self.last_match: dict[tuple, tuple] = {}       # gt track -> pred id of its last match (any frame)
        self.prev_frame: dict[tuple, tuple] = {}       # gt track -> pred id matched in the previous frame
        self.switches = 0
        self.kept = 0
        self.pairs = 0


class STQEvaluator:
    """Accumulates STQ (AQ, SQ), ID switches and the id-keep rate over frames of one or more videos."""

    def __init__(self, categories: CategoryMap):
        self.categories = categories
        self.num_classes = len(categories)
        self.sequences: dict[Any, _Sequence] = {}
        self.identity = IdentityMetrics()

    def _lookup(self, segments: list[dict], what: str, frame: str):
        """id -> (channel, is thing, is crowd, track key) for the listed segments."""
        out = {}
        for s in segments:
            try:
                ch = self.categories.index(int(s["category_id"]))
            except KeyError:
                raise STQInputError(f"{frame}: {what} segment {s.get('id')} has unknown category "
                                    f"{s.get('category_id')}") from None
            cat = self.categories.category(ch)
            track = s.get("track_id", s["id"]) if what == "ground-truth" else s["id"]
            out[int(s["id"])] = (ch, bool(cat.isthing), bool(int(s.get("iscrowd", 0))), (int(cat.id), int(track)))
        return out

    def add(self, gt_pan, gt_segments: list[dict], pred_pan, pred_segments: list[dict], sequence: Any = 0,
            stamp: float | None = None) -> None:
        """Add one frame of ``sequence`` (frames of a video in order); stamp: seconds (for re-identification's
        absence times; default frame index / DEFAULT_FPS)."""
        gt = np.asarray(gt_pan.cpu() if hasattr(gt_pan, "cpu") else gt_pan).astype(np.int64, copy=False)
        pred = np.asarray(pred_pan.cpu() if hasattr(pred_pan, "cpu") else pred_pan).astype(np.int64, copy=False)
        seq = self.sequences.setdefault(sequence, _Sequence())
        frame = f"sequence {sequence!r} frame {seq.frames}"
        if gt.shape != pred.shape:
            raise STQInputError(f"{frame}: prediction is {pred.shape[1]}x{pred.shape[0]} but the ground truth is "
                                f"{gt.shape[1]}x{gt.shape[0]}")
        gts, preds = self._lookup(gt_segments, "ground-truth", frame), self._lookup(pred_segments, "predicted", frame)
        c = self.num_classes
        # compact per-frame indices: 0 = void / unlisted
        gt_ids, pred_ids = list(gts), list(preds)
        gi = _compact(gt, gt_ids)
        pi = _compact(pred, pred_ids)
        ng, npd = len(gt_ids) + 1, len(pred_ids) + 1
        joint = np.bincount((gi * npd + pi).ravel(), minlength=ng * npd).reshape(ng, npd).astype(np.float64)

        # semantic confusion (rows: ground-truth class, columns: predicted class, index c = void)
        gt_class = np.array([c] + [gts[i][0] for i in gt_ids])
        pred_class = np.array([c] + [preds[i][0] for i in pred_ids])
        conf = np.zeros((c + 1, c + 1))
        np.add.at(conf, (gt_class[:, None].repeat(npd, 1), pred_class[None, :].repeat(ng, 0)), joint)
        conf[c, :] = 0  # void ground truth is not evaluated
        seq.confusion = conf if seq.confusion is None else seq.confusion + conf

        # association: ground-truth thing tracks (not crowd) and predicted things off the crowd region
        gt_thing = np.array([False] + [gts[i][1] and not gts[i][2] for i in gt_ids])
        gt_crowd = np.array([False] + [gts[i][1] and gts[i][2] for i in gt_ids])
        pred_thing = np.array([False] + [preds[i][1] for i in pred_ids])
        gt_keys = [None] + [gts[i][3] for i in gt_ids]
        pred_keys = [None] + [preds[i][3] for i in pred_ids]
        for a in np.nonzero(gt_thing)[0]:
            seq.gt_area[gt_keys[a]] += joint[a].sum()
        for b in np.nonzero(pred_thing)[0]:
            seq.pred_area[pred_keys[b]] += joint[~gt_crowd, b].sum()
        for a, b in zip(*np.nonzero(joint * gt_thing[:, None] * pred_thing[None, :])):
            seq.inter[(gt_keys[a], pred_keys[b])] += joint[a, b]

        # IoU > 0.5 matches of the frame: ID switches and ids kept across consecutive frames
        gt_area = joint.sum(1)
        pred_area = joint.sum(0)
        rows = [a for a in np.nonzero(gt_thing)[0] if gt_area[a] > 0]
        cols = [b for b in np.nonzero(pred_thing)[0] if pred_area[b] > 0]
        inter = joint[np.ix_(rows, cols)]
        union = gt_area[rows][:, None] + pred_area[cols][None, :] - inter
        same = np.array([[gt_keys[a][0] == pred_keys[b][0] for b in cols] for a in rows], dtype=bool)
        iou = np.where(same.reshape(inter.shape), inter / np.maximum(union, 1), 0.0)
        self.identity.add(sequence, seq.frames / DEFAULT_FPS if stamp is None else float(stamp),
                          [gt_keys[a] for a in rows], [pred_keys[b] for b in cols], iou)
        current: dict[tuple, tuple] = {}
        for a, b in zip(*np.nonzero(joint * gt_thing[:, None] * pred_thing[None, :])):
            if gt_keys[a][0] != pred_keys[b][0]:
                continue
            iou = joint[a, b] / (gt_area[a] + pred_area[b] - joint[a, b])
            if iou > 0.5:
                current[gt_keys[a]] = pred_keys[b]
        for g, p in current.items():
            if g in seq.last_match and seq.last_match[g] != p:
                seq.switches += 1
            if g in seq.prev_frame:
                seq.pairs += 1
                seq.kept += int(seq.prev_frame[g] == p)
            seq.last_match[g] = p
        seq.prev_frame = current
        seq.frames += 1

    def summarize(self) -> dict:
        """{"stq", "aq", "sq", "per_class_iou", "per_sequence": {seq: {stq, aq, sq, frames, tracks}}, "frames",
        "tracks", "id_switches", "id_switches_per_100", "id_keep": {"kept", "pairs", "fraction"}} (fractions)."""
        aq_sum, tracks, frames, switches, kept, pairs = 0.0, 0, 0, 0, 0, 0
        total = np.zeros((self.num_classes + 1, self.num_classes + 1))
        per_sequence = {}
        for name, seq in self.sequences.items():
            by_gt: dict[tuple, float] = defaultdict(float)
            for (g, p), tpa in seq.inter.items():
                union = seq.gt_area[g] + seq.pred_area[p] - tpa   # = TPA + FPA + FNA
                by_gt[g] += tpa * tpa / union
            seq_aq = sum(by_gt[g] / area for g, area in seq.gt_area.items() if area > 0)
            seq_tracks = sum(1 for area in seq.gt_area.values() if area > 0)
            aq_sum, tracks = aq_sum + seq_aq, tracks + seq_tracks
            frames, switches, kept, pairs = (frames + seq.frames, switches + seq.switches, kept + seq.kept,
                                             pairs + seq.pairs)
            if seq.confusion is not None:
                total += seq.confusion
            aq = seq_aq / seq_tracks if seq_tracks else 0.0
            sq = _miou(seq.confusion, self.num_classes)[0] if seq.confusion is not None else 0.0
            per_sequence[str(name)] = {"stq": float(np.sqrt(aq * sq)), "aq": aq, "sq": sq, "frames": seq.frames,
                                       "tracks": seq_tracks, "id_switches": seq.switches}
        aq = aq_sum / tracks if tracks else 0.0
        sq, ious = _miou(total, self.num_classes)
        return {"stq": float(np.sqrt(aq * sq)), "aq": float(aq), "sq": float(sq), "identity": self.identity.summarize(),
                "per_class_iou": {self.categories.category(i).name: v for i, v in ious.items()},
                "per_sequence": per_sequence, "frames": frames, "tracks": tracks, "id_switches": switches,
                "id_switches_per_100": 100.0 * switches / frames if frames else 0.0,
                "id_keep": {"kept": kept, "pairs": pairs, "fraction": kept / pairs if pairs else float("nan")}}


def _compact(ids: np.ndarray, listed: list[int]) -> np.ndarray:
    """ids -> 1..len(listed) by position in listed; 0 for 0 and ids not listed."""
    if not listed:
        return np.zeros(ids.shape, dtype=np.int64)
    uniq = np.asarray(listed, dtype=np.int64)
    order = np.argsort(uniq)
    pos = np.minimum(np.searchsorted(uniq[order], ids), len(uniq) - 1)    # (ids above every listed one)
    found = uniq[order][pos] == ids
    return np.where(found, order[pos] + 1, 0)


def _miou(confusion: np.ndarray, c: int) -> tuple[float, dict[int, float]]:
    """Mean IoU over the classes with a non-empty union (void row / column excluded from the classes)."""
    inter = np.diag(confusion)[:c]
    union = confusion.sum(0)[:c] + confusion.sum(1)[:c] - inter
    present = union > 0
    ious = {int(i): float(inter[i] / union[i]) for i in np.nonzero(present)[0]}
    return (float(np.mean(list(ious.values()))) if ious else 0.0), ious
