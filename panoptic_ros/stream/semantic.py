"""The class-index image (~/semantic): each pixel's class index, one value for unknown.

Why here, below ros/: the node's ~/semantic and ~/semantic_color both draw it, and OutputFrame computes it once
per frame for both (stream/frame.py); nothing in it is ROS.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

UNKNOWN_SEMANTIC_8 = 255
UNKNOWN_SEMANTIC_16 = 65535


def semantic_unknown(num_classes: int) -> int:
    """The value of unknown pixels for a model with num_classes classes."""
    return UNKNOWN_SEMANTIC_8 if num_classes <= UNKNOWN_SEMANTIC_8 else UNKNOWN_SEMANTIC_16


def semantic_from_panoptic(panoptic: np.ndarray, segments: Sequence[dict], num_classes: int) -> np.ndarray:
    """Class index per pixel (category channel of its segment): uint8 with unknown = 255 for up to 255 classes
    (indices 0..254), else uint16 with unknown = 65535."""
    panoptic = np.asarray(panoptic)
    if num_classes > UNKNOWN_SEMANTIC_16:
        raise ValueError(f"{num_classes} classes do not fit a 16-bit semantic image")
    unknown = semantic_unknown(num_classes)
    size = max([int(panoptic.max()) if panoptic.size else 0] + [int(s["id"]) for s in segments]) + 1
    lut = np.full(size, unknown, dtype=np.uint8 if unknown == UNKNOWN_SEMANTIC_8 else np.uint16)
    for seg in segments:
        lut[int(seg["id"])] = int(seg["category_id"])
    return lut[panoptic]
