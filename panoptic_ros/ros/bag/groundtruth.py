"""Ground truth for a bag: which COCO panoptic image belongs to which bag frame, and PQ over the frames.

Mapping rule (the README documents it):
  1. if every entry of the GT JSON's "images" has a "stamp_ns" field (``panoptic bag make-sample`` writes it),
     a frame matches the GT image whose stamp_ns equals the frame's header stamp (sec * 1e9 + nanosec);
  2. otherwise the i-th message of the image topic (0-based, bag order, bad records included) matches the
     i-th GT image in ascending image id order.
Frames without a GT image are evaluated as nothing (counted as "unmatched"); PQ covers the matched ones.

A GT folder that is a video (its images carry "video_id" or its segments "track_id", as `panoptic bag
make-sample --sequence` writes) is also scored for tracking: STQ (AQ x SQ) and ID switches per 100 frames
(panoptic_ros.evaluation.stq), frame by frame in the order the frames are scored, per video_id.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...data.categories import CategoryMap
from ...data.coco_panoptic import PanopticJson, read_panoptic_png, resolve_layout
from ...evaluation import PQEvaluator
from ...evaluation.stq import STQEvaluator

log = logging.getLogger(__name__)


@dataclass
class GTImage:
    image_id: Any
    file_name: str
    panoptic_path: Path
    segments_info: list
    stamp_ns: int | None
    video_id: str = "0"


class BagGroundTruth:
    """A GT folder in COCO panoptic layout (DIR/panoptic.json, DIR/panoptic/*.png) matched to bag frames."""

    def __init__(self, root: str | Path):
        _, ann_json, ann_dir = resolve_layout(root)
        self.root = Path(root)
        self.json = PanopticJson.load(ann_json)
        self.categories: CategoryMap = self.json.categories
        entries = []
        for ann in self.json.annotations:
            info = self.json.images.get(ann["image_id"], {})
            stamp = info.get("stamp_ns")
            entries.append(GTImage(ann["image_id"], info.get("file_name", ann["file_name"]),
                                   ann_dir / ann["file_name"], ann["segments_info"],
                                   int(stamp) if stamp is not None else None, str(info.get("video_id", "0"))))
        self.images = sorted(entries, key=lambda e: _sort_key(e.image_id))
        self.mode = "stamp" if self.images and all(e.stamp_ns is not None for e in self.images) else "index"
        self._by_stamp = {e.stamp_ns: e for e in self.images} if self.mode == "stamp" else {}
        self.is_sequence = any("video_id" in self.json.images.get(e.image_id, {}) or
                               any("track_id" in seg for seg in e.segments_info) for e in self.images)

    def lookup(self, index: int | None, stamp_ns: int | None) -> GTImage | None:
        """The GT image of a frame (bag index and/or header stamp), None when it has none."""
        if self.mode == "stamp":
            return self._by_stamp.get(stamp_ns)
        if index is not None and 0 <= index < len(self.images):
            return self.images[index]
        return None

    def load(self, entry: GTImage) -> np.ndarray:
        return read_panoptic_png(entry.panoptic_path)


def _sort_key(image_id: Any):
    return (0, image_id, "") if isinstance(image_id, (int, float)) else (1, 0, str(image_id))


def channel_to_category_ids(gt: CategoryMap, model_categories: CategoryMap | None = None,
                            labels: dict[int, str] | None = None) -> dict[int, int]:
    """Channel index of the predictions -> GT dataset category id.

    With the model's CategoryMap (offline eval) the channel's own dataset id is used; with only instance
    labels (live outputs) a channel maps to the GT category of the same name, else to the GT channel index.
    """
    out = {}
    if model_categories is not None:
        for i, c in enumerate(model_categories.categories):
            out[i] = c.id
        return out
    by_name = {c.name: c.id for c in gt.categories}
    for i, c in enumerate(gt.categories):
        out[i] = c.id
    for i, name in (labels or {}).items():
        if name in by_name:
            out[i] = by_name[name]
    return out


class BagPQ:
    """Accumulates PQ over bag frames that have ground truth (panoptic_ros.evaluation's evaluator), and STQ with
    ID switches when the ground truth is a video (``stq`` is None otherwise)."""

    def __init__(self, gt: BagGroundTruth):

        self.gt = gt
        self.evaluator = PQEvaluator(gt.categories)
        self.stq = STQEvaluator(gt.categories) if gt.is_sequence else None
        self.matched = 0
        self.unmatched = 0
        self.seen: set = set()

    def add(self, index: int | None, stamp_ns: int | None, panoptic: np.ndarray, segments: list[dict],
            channel_map: dict[int, int]) -> bool:
        """One predicted frame: panoptic int32 HxW and its segments ({id, category_id: channel index})."""
        entry = self.gt.lookup(index, stamp_ns)
        if entry is None or entry.image_id in self.seen:
            self.unmatched += 1
            return False
        gt_pan = self.gt.load(entry)
        if gt_pan.shape != panoptic.shape:
            raise ValueError(f"frame {index} (stamp {stamp_ns}) is {panoptic.shape[1]}x{panoptic.shape[0]} but its "
                             f"ground truth {entry.panoptic_path} is {gt_pan.shape[1]}x{gt_pan.shape[0]}")
        unknown = sorted({int(s["category_id"]) for s in segments} - set(channel_map))
        if unknown:
            raise ValueError(f"frame {index} (stamp {stamp_ns}): predicted class channel(s) {unknown} have no "
                             "ground-truth category")
        pred_segments = [{"id": int(s["id"]), "category_id": channel_map[int(s["category_id"])]} for s in segments]
        self.evaluator.add(gt_pan, entry.segments_info, panoptic, pred_segments, image_id=entry.image_id)
        if self.stq is not None:
            self.stq.add(gt_pan, entry.segments_info, panoptic, pred_segments, sequence=entry.video_id,
                         stamp=stamp_ns * 1e-9 if stamp_ns is not None else None)
        self.seen.add(entry.image_id)
        self.matched += 1
        return True

    def summary(self) -> dict:
        out = {"mapping": self.gt.mode, "frames_with_gt": self.matched, "frames_without_gt": self.unmatched,
               "gt_images": len(self.gt.images)}
        if self.matched:
            out.update(self.evaluator.summarize())
        return out

    def stq_summary(self) -> dict | None:
        """STQ, AQ, SQ, ID switches (total and per 100 frames), id-keep rate, identity metrics (IDF1, HOTA, re-id
        rate, wrong merges); None without video ground truth."""
        if self.stq is None:
            return None
        s = self.stq.summarize()
        keys = ("stq", "aq", "sq", "frames", "tracks", "id_switches", "id_switches_per_100", "id_keep",
                "per_sequence", "identity")
        return {k: s[k] for k in keys}
