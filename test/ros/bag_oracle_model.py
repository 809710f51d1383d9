"""Test-only "oracle" model: predicts the ground truth of a sample made by `panoptic bag make-sample`.

predict() recognises each input image by its exact pixels (the sample bag holds the decoded GT JPEGs) and
returns that image's GT as a PanopticResult (crowd regions left unknown), so PQ against the same GT must be
exactly 1.0 whenever frames are mapped to the right GT image and channels to the right category ids. Used by
the bag and demo tests through the test launcher node_with_test_model.py (--factory bag_oracle_model:load,
model parameter = the GT folder) and by monkeypatching panoptic_ros.pipeline.build_pipeline in process.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import torch

from panoptic_ros.config import PanopticConfig
from panoptic_ros.data import PanopticJson, read_image, read_panoptic_png
from panoptic_ros.panoptic.result import PanopticResult


def _key(image) -> str:
    arr = np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
    return hashlib.sha1(arr.tobytes() + str(arr.shape).encode()).hexdigest()


class OracleModel:
    device = torch.device("cpu")

    def __init__(self, gt_dir: str | Path, *, delay: float = 0.0, fail_calls=()):
        """delay: seconds each predict() takes (a slow model); fail_calls: 1-based predict() calls that raise
        RuntimeError (a network error)."""
        self.delay, self.fail_calls = delay, set(fail_calls)
        gt_dir = Path(gt_dir)
        if gt_dir.is_file():  # the GT's panoptic.json (for callers that insist on a model *file*)
            gt_dir = gt_dir.parent
        meta = PanopticJson.load(gt_dir / "panoptic.json")
        self.categories = meta.categories
        self.cfg = PanopticConfig()
        self.cfg.inference.device = "cpu"
        self.calls = 0
        self._results = {}
        for sample in meta.samples(gt_dir / "images", gt_dir / "panoptic"):
            self._results[_key(read_image(sample.image_path))] = self._result(read_panoptic_png(sample.panoptic_path),
                                                                              sample.segments_info)

    def _result(self, gt: np.ndarray, segments_info: list) -> PanopticResult:
        pan = np.zeros(gt.shape, np.int32)
        segments = []
        for seg in segments_info:
            if seg.get("iscrowd"):
                continue
            mask = gt == seg["id"]
            if not mask.any():
                continue
            new_id = len(segments) + 1
            pan[mask] = new_id
            ys, xs = np.nonzero(mask)
            channel = self.categories.index(seg["category_id"])
            segments.append({"id": new_id, "category_id": channel,
                             "isthing": bool(self.categories.category(channel).isthing), "score": 1.0,
                             "bbox": [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                                      int(ys.max() - ys.min() + 1)], "area": int(mask.sum())})
        return PanopticResult(torch.from_numpy(pan), segments)

    def predict(self, images, *, inference=None):
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        if self.calls in self.fail_calls:
            raise RuntimeError(f"oracle: simulated network error in call {self.calls}")
        out = []
        for im in images:
            res = self._results.get(_key(im))
            if res is None:  # not a sample frame: everything unknown
                h, w = np.asarray(im).shape[:2]
                res = PanopticResult.empty(h, w)
            out.append(res)
        return out

    def to(self, device):
        return self

    def eval(self):
        return self


def load(path: str, device: str = "cpu", **options) -> OracleModel:
    """Factory for the test launcher (--factory bag_oracle_model:load): path = GT folder or its panoptic.json;
    options: see OracleModel."""
    return OracleModel(path, **options)
