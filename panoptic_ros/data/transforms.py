"""Augmentation applied jointly to an image and its panoptic id map, before targets are derived.

Every transform is a callable ``(image uint8 [H,W,3], id_map int32 [H,W]) -> (image, id_map)``.
The id map is resized with nearest neighbour so no new segment id can appear; boxes and center
offsets are then computed from the transformed map (see :mod:`panoptic_ros.data.targets`).
Randomness comes from torch's generator, which DataLoader seeds per worker.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np
import torch

from ..config import DataConfig


def resized_shape(height: int, width: int, min_size: int, max_size: int) -> tuple[int, int]:
    """(h, w) with the shorter side = min_size unless that makes the longer side exceed max_size."""
    scale = min_size / min(height, width)
    if max(height, width) * scale > max_size:
        scale = max_size / max(height, width)
    return max(1, int(round(height * scale))), max(1, int(round(width * scale)))


class ResizeShortestEdge:
    """Resize so the shorter side is min_size (one of them, at random) and the longer side <= max_size."""

    def __init__(self, min_size: int | Sequence[int], max_size: int):
        self.min_sizes = [int(min_size)] if isinstance(min_size, (int, np.integer)) else [int(s) for s in min_size]
        if not self.min_sizes or min(self.min_sizes) < 1 or max_size < 1:
            raise ValueError(f"resize sizes must be positive, got min_size={min_size}, max_size={max_size}")
        self.max_size = int(max_size)

    def __call__(self, image: np.ndarray, id_map: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(self.min_sizes) == 1:
            min_size = self.min_sizes[0]
        else:
            min_size = self.min_sizes[int(torch.randint(len(self.min_sizes), (1,)).item())]
        h, w = image.shape[:2]
        nh, nw = resized_shape(h, w, min_size, self.max_size)
        if (nh, nw) == (h, w):
            return image, id_map
        image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        id_map = cv2.resize(np.ascontiguousarray(id_map, dtype=np.int32), (nw, nh), interpolation=cv2.INTER_NEAREST)
        return image, id_map

    def __repr__(self) -> str:
        return f"ResizeShortestEdge(min_size={self.min_sizes}, max_size={self.max_size})"


class RandomHorizontalFlip:
    """Mirror image and id map together with probability p."""

    def __init__(self, p: float = 0.5):
        self.p = float(p)

    def __call__(self, image: np.ndarray, id_map: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.p > 0 and torch.rand(1).item() < self.p:
            return np.ascontiguousarray(image[:, ::-1]), np.ascontiguousarray(id_map[:, ::-1])
        return image, id_map

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Compose:
    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def __call__(self, image: np.ndarray, id_map: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        for t in self.transforms:
            image, id_map = t(image, id_map)
        return image, id_map

    def __repr__(self) -> str:
        return f"Compose({self.transforms})"


def build_transforms(cfg: DataConfig, train: bool = True) -> Compose:
    """Training: resize (data.min_size / data.max_size) + random flip if data.hflip; otherwise resize only."""
    ts: list[Callable] = [ResizeShortestEdge(cfg.min_size, cfg.max_size)]
    if train and cfg.hflip:
        ts.append(RandomHorizontalFlip(0.5))
    return Compose(ts)
