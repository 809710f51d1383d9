"""Box AP of the detection branch with pycocotools' COCOeval, from boxes held in memory."""
from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..data.categories import CategoryMap

log = logging.getLogger(__name__)

STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def _array(x: Any, shape_tail: tuple = ()) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x if x is not None else [], dtype=np.float64)
    return a.reshape((-1,) + shape_tail)


class BoxAPEvaluator:
    """Collects ground truth and detections per image; ``summarize()`` runs COCOeval (bbox).

    Boxes are xyxy pixels (pixel-edge convention of :mod:`panoptic_ros.data.targets`); labels are
    channel indices (as in targets and model outputs), mapped to dataset category ids. Ground-truth
    crowd boxes (iscrowd=1) are passed to COCOeval, which ignores detections on them.
    """

    def __init__(self, categories: CategoryMap):
        self.categories = categories
        self.images: list[dict] = []
        self.gt: list[dict] = []
        self.dets: list[dict] = []

    def add(self, image_id: Any, gt_boxes: Any, gt_labels: Any, det_boxes: Any, det_scores: Any, det_labels: Any,
            gt_iscrowd: Any = None, gt_areas: Any = None, height: int | None = None, width: int | None = None) -> None:
        idx = len(self.images) + 1  # contiguous int ids: COCOeval sorts them
        self.images.append({"id": idx, "image_id": image_id, "height": height or 0, "width": width or 0})
        gb, gl = _array(gt_boxes, (4,)), _array(gt_labels).astype(np.int64)
        crowd = _array(gt_iscrowd).astype(np.int64) if gt_iscrowd is not None else np.zeros(len(gb), np.int64)
        areas = _array(gt_areas) if gt_areas is not None else None
        if not len(gb) == len(gl) == len(crowd) or (areas is not None and len(areas) != len(gb)):
            raise ValueError(f"image {image_id!r}: ground-truth boxes, labels, iscrowd and areas differ in length")
        for k, (box, label) in enumerate(zip(gb, gl)):
            w, h = box[2] - box[0], box[3] - box[1]
            self.gt.append({"id": len(self.gt) + 1, "image_id": idx, "category_id": self._cat(label),
                            "bbox": [float(box[0]), float(box[1]), float(w), float(h)],
                            "area": float(areas[k]) if areas is not None else float(w * h),
                            "iscrowd": int(crowd[k])})
        db, ds, dl = _array(det_boxes, (4,)), _array(det_scores), _array(det_labels).astype(np.int64)
        if not len(db) == len(ds) == len(dl):
            raise ValueError(f"image {image_id!r}: detection boxes, scores and labels differ in length")
        for box, score, label in zip(db, ds, dl):
            self.dets.append({"image_id": idx, "category_id": self._cat(label), "score": float(score),
                              "bbox": [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]})

    def add_segments(self, image_id: Any, gt_segments: Iterable[Mapping], det_boxes: Any, det_scores: Any,
                     det_labels: Any, height: int | None = None, width: int | None = None,
                     id_map: np.ndarray | None = None) -> None:
        """Ground truth from COCO panoptic segments_info (thing segments, bbox [x,y,w,h], crowd kept). A segment
        without "bbox" (hand-written ground truth; COCO files always have it) gets the tight box of its pixels in
        ``id_map`` (the ground truth's segment-id map), else a ValueError naming it."""
        boxes, labels, crowd, areas = [], [], [], []
        for seg in gt_segments:
            ch = self.categories.index(int(seg["category_id"]))
            if not self.categories.category(ch).isthing:
                continue
            x, y, w, h = seg["bbox"] if "bbox" in seg else _tight_box(id_map, seg, image_id)
            boxes.append([x, y, x + w, y + h])
            labels.append(ch)
            crowd.append(int(seg.get("iscrowd", 0)))
            areas.append(float(seg.get("area", w * h)))
        self.add(image_id, boxes, labels, det_boxes, det_scores, det_labels, crowd, areas, height, width)

    def _cat(self, channel: int) -> int:
        if not 0 <= channel < len(self.categories):
            raise ValueError(f"label {channel} is not a channel index (0..{len(self.categories) - 1})")
        return self.categories.category(int(channel)).id

    def summarize(self) -> dict:
        """{"AP", "AP50", "AP75", "APs", "APm", "APl"} (fractions, 0 when undefined) + counts."""
        out = {k: 0.0 for k in STAT_NAMES}
        out.update(num_images=len(self.images), num_gt=sum(1 for g in self.gt if not g["iscrowd"]),
                   num_detections=len(self.dets))
        if not self.images or not self.dets or out["num_gt"] == 0:
            return out
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            gt = COCO()
            gt.dataset = {"images": [{"id": i["id"], "height": i["height"], "width": i["width"]} for i in self.images],
                          "annotations": self.gt,
                          "categories": [{"id": c.id, "name": c.name} for c in self.categories.categories
                                         if c.isthing]}
            gt.createIndex()
            dt = gt.loadRes([dict(d) for d in self.dets])
            ev = COCOeval(gt, dt, iouType="bbox")
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        log.debug("pycocotools:\n%s", printed.getvalue())
        for name, value in zip(STAT_NAMES, ev.stats[:6]):
            out[name] = float(value) if value >= 0 else 0.0
        return out


def _tight_box(id_map: np.ndarray | None, seg: Mapping, image_id: Any) -> list[int]:
    """[x, y, w, h] of the pixels of segment seg["id"] (x2 = x_max + 1, as the dataset reader's boxes)."""
    if id_map is None:
        raise ValueError(f"image {image_id!r}: ground-truth segment {seg.get('id')} has no 'bbox'")
    ys, xs = np.nonzero(id_map == int(seg["id"]))
    if not len(xs):
        return [0, 0, 0, 0]
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
