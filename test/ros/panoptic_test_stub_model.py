"""Test-only model for panoptic_node, loaded through PANOPTIC_NODE_MODEL_FACTORY=panoptic_test_stub_model:load.

It returns a fixed overlap scene fused by the real panoptic head (panoptic_ros.panoptic.fuse) with the node's
current inference settings, so a merge_policy change at run time gives a known, different label image:
two "box" detections overlap over the full height, "floor" (stuff) fills the bottom quarter.
    A: x in [0, 0.6 W), score 0.9 (larger)       B: x in [0.5 W, W), score 0.6 (smaller)
Overlap columns [0.5 W, 0.6 W) belong to
    highest_confidence -> A;  smallest_first -> B;  closest_center (zero offsets) -> A left of 0.525 W, else B.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from panoptic_ros.config import PanopticConfig
from panoptic_ros.data.categories import Category, CategoryMap
from panoptic_ros.panoptic import fuse

CATEGORIES = CategoryMap([Category(1, "box", True, (200, 40, 40)), Category(2, "floor", False, (40, 160, 40))])
A_RIGHT, B_LEFT, CENTER_SPLIT = 0.6, 0.5, 0.525


def scene(height: int, width: int, inference) -> object:
    logits = torch.zeros((2, height, width))
    logits[0] = 1.0
    logits[1, (3 * height) // 4:] = 2.0
    boxes = torch.tensor([[0.0, 0.0, A_RIGHT * width, height], [B_LEFT * width, 0.0, width, height]])
    scores = torch.tensor([0.9, 0.6])
    keep = scores >= inference.score_threshold
    return fuse(logits, boxes[keep], scores[keep], torch.zeros(int(keep.sum()), dtype=torch.int64),
                thing_mask=CATEGORIES.thing_mask, policy=inference.merge_policy,
                center_offsets=torch.zeros((2, height, width)), stuff_area_threshold=inference.stuff_area_threshold,
                unknown_undetected_things=inference.unknown_undetected_things)


class StubModel:
    categories = CATEGORIES
    device = "cpu"

    def __init__(self):
        self.cfg = PanopticConfig()

    def predict(self, images, *, inference=None):
        inference = inference or self.cfg.inference
        return [scene(int(np.asarray(im).shape[0]), int(np.asarray(im).shape[1]), inference) for im in images]


def load(path: str, device: str):
    """Factory for the node: "" or "stub" -> StubModel; an existing file -> the real checkpoint loader.
    The device is checked as the real loader does (ValueError for a CUDA device that is not there)."""
    from panoptic_ros.modeling import resolve_device

    resolve_device(device)
    if path in ("", "stub"):
        return StubModel()
    if Path(path).is_file():
        from panoptic_ros.modeling import load_checkpoint
        return load_checkpoint(path, device=device)
    raise FileNotFoundError(f"model file not found: {path}")
