"""Test-only model for the node's tracking, several-camera and depth tests (passed through the test launcher:
node_with_test_model.py --factory panoptic_test_blob_model:load).

Its answer follows the image, so moving objects move in the output: every 4-connected region whose red channel
is above 128 is one "blob" thing segment, the rest is "floor" stuff. Ids are numbered per frame in raster order
of the regions (as a real model numbers its detections): when two blobs change their order, their per-frame ids
swap, which only a tracker undoes. Every predict() prints "blob model batch of N" (N = images in the call), so a
test can see from the node's log that frames of several cameras were batched.
"""
from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qsl

import cv2
import numpy as np
import torch

from panoptic_ros.config import PanopticConfig
from panoptic_ros.data.categories import Category, CategoryMap
from panoptic_ros.panoptic import PanopticResult

CATEGORIES = CategoryMap([Category(1, "blob", True, (200, 40, 40)), Category(2, "floor", False, (40, 160, 40))])


def segment_image(rgb: np.ndarray) -> PanopticResult:
    """Blobs (red > 128, raster order) and floor as a PanopticResult."""
    mask = (np.asarray(rgb)[..., 0] > 128).astype(np.uint8)
    count, labels = cv2.connectedComponents(mask, connectivity=4)
    panoptic = np.zeros(mask.shape, np.int32)
    segments = []

    def add(region: np.ndarray, channel: int, isthing: bool) -> None:
        seg_id = len(segments) + 1
        panoptic[region] = seg_id
        ys, xs = np.nonzero(region)
        segments.append({"id": seg_id, "category_id": channel, "isthing": isthing, "score": 0.9 if isthing else 1.0,
                         "bbox": [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                                  int(ys.max() - ys.min() + 1)], "area": int(region.sum())})

    if (mask == 0).any():
        add(mask == 0, 1, False)
    for k in range(1, count):
        add(labels == k, 0, True)
    return PanopticResult(torch.from_numpy(panoptic), segments)


class BlobModel:
    categories = CATEGORIES
    device = "cpu"

    def __init__(self, delay: float = 0.0, hold_width: int = 0, gate: str = ""):
        self.cfg = PanopticConfig()
        self.delay = delay
        self.hold_width, self.gate = hold_width, gate

    def predict(self, images, *, inference=None):
        print(f"blob model batch of {len(images)}", flush=True)
        if self.hold_width and any(np.asarray(im).shape[1] == self.hold_width for im in images):
            print("blob model holding", flush=True)    # busy until the test opens the gate, on any machine
            deadline = time.monotonic() + 120.0
            while not Path(self.gate).exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        time.sleep(self.delay)
        return [segment_image(im) for im in images]

    def close(self):
        print("blob model closed", flush=True)


def load(path: str, device: str):
    """"" / "blob" / "blob?delay=SECONDS" (each predict() takes that long); "&hold_width=W&gate=FILE": a call
    with an image W pixels wide waits until FILE exists (a busy model the test releases)."""
    options = dict(parse_qsl(path.partition("?")[2]))
    return BlobModel(float(options.get("delay", 0.0)), int(options.get("hold_width", 0)), options.get("gate", ""))
