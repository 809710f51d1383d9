"""Semantic segmentation quality: mean IoU over classes from an accumulated confusion matrix."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..data.categories import IGNORE_LABEL, CategoryMap


def _as_array(x: Any) -> np.ndarray:
    if hasattr(x, "cpu"):  # torch tensor
        x = x.cpu().numpy()
    return np.asarray(x)


class SemanticEvaluator:
    """Confusion matrix of channel indices; ground-truth pixels equal to ignore_index are skipped.

    A predicted ignore_index (e.g. an "unknown" pixel) counts as wrong for the ground-truth class.
    Classes absent from both ground truth and prediction have IoU None and are left out of the mean.
    """

    def __init__(self, categories: CategoryMap | int, ignore_index: int = IGNORE_LABEL):
        self.categories = categories if isinstance(categories, CategoryMap) else None
        self.num_classes = len(categories) if isinstance(categories, CategoryMap) else int(categories)
        if self.num_classes < 1:
            raise ValueError(f"need at least one class, got {self.num_classes}")
        self.ignore_index = ignore_index
        # rows: ground truth; columns: prediction, the last one for "no class"
        self.confusion = np.zeros((self.num_classes, self.num_classes + 1), dtype=np.int64)

    def add(self, pred: Any, gt: Any) -> None:
        """pred, gt: [H,W] channel indices of one image."""
        pred, gt = _as_array(pred).astype(np.int64), _as_array(gt).astype(np.int64)
        if pred.shape != gt.shape:
            raise ValueError(f"prediction is {pred.shape} but ground truth is {gt.shape}")
        c = self.num_classes
        valid = gt != self.ignore_index
        gt, pred = gt[valid], pred[valid]
        if gt.size and (gt.min() < 0 or gt.max() >= c):
            raise ValueError(f"ground-truth class indices must be in [0, {c}) or {self.ignore_index}")
        bad = (pred < 0) | (pred >= c)
        if bad.any() and not np.all(pred[bad] == self.ignore_index):
            raise ValueError(f"predicted class indices must be in [0, {c}) or {self.ignore_index}")
        pred = np.where(bad, c, pred)
        self.confusion += np.bincount(gt * (c + 1) + pred, minlength=c * (c + 1)).reshape(c, c + 1)

    def summarize(self) -> dict:
        """{"miou", "pixel_accuracy", "per_class_iou": {key: IoU or None}} (fractions); keys are dataset
        category ids when categories were given, channel indices otherwise."""
        c = self.num_classes
        tp = np.diag(self.confusion[:, :c]).astype(np.float64)
        gt_total = self.confusion.sum(1)
        pred_total = self.confusion[:, :c].sum(0)
        union = gt_total + pred_total - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
        keys = [str(cat.id) for cat in self.categories.categories] if self.categories else [str(i) for i in range(c)]
        per_class = {k: (None if np.isnan(v) else float(v)) for k, v in zip(keys, iou)}
        present = ~np.isnan(iou)
        total = int(gt_total.sum())
        return {"miou": float(iou[present].mean()) if present.any() else 0.0,
                "pixel_accuracy": float(tp.sum() / total) if total else 0.0,
                "per_class_iou": per_class}
