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
    """(h, w) with the shorter side = min_size unless that makes the longer side exceed max_size, aspect kept: the
    one resize rule of training (ResizeShortestEdge) and inference (modeling.preprocess, the pipeline's stage 1)."""
    if height < 1 or width < 1:
        raise ValueError(f"image is empty ({height}x{width})")
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


class RandomScaleCrop:
    """Scale by a random factor in [lo, hi], then cut a random crop of crop_size = (h, w) (0 = no crop); a side
    shorter than the crop is padded with void (id 0, ignored by the losses) and black pixels. The research's
    Cityscapes setting: factors 0.5..2.0 and 1024x2048 crops of the 1024x2048 frames."""

    def __init__(self, scale: Sequence[float] = (1.0, 1.0), crop_size: Sequence[int] = (0, 0)):
        if len(scale) != 2 or not 0 < float(scale[0]) <= float(scale[1]):
            raise ValueError(f"data.scale_jitter must be [min, max] with 0 < min <= max, got {list(scale)}")
        if len(crop_size) != 2 or min(int(c) for c in crop_size) < 0:
            raise ValueError(f"data.crop_size must be [height, width] >= 0, got {list(crop_size)}")
        self.scale = (float(scale[0]), float(scale[1]))
        self.crop = (int(crop_size[0]), int(crop_size[1]))

    def __call__(self, image: np.ndarray, id_map: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.scale
        if hi > lo or lo != 1.0:
            factor = lo + (hi - lo) * torch.rand(1).item()
            h, w = image.shape[:2]
            nh, nw = max(1, int(round(h * factor))), max(1, int(round(w * factor)))
            if (nh, nw) != (h, w):
                image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
                # NEAREST_EXACT samples at pixel centres like the bilinear image resize (plain NEAREST floors
                # and can shift a boundary by a pixel against the image)
                id_map = cv2.resize(np.ascontiguousarray(id_map, dtype=np.int32), (nw, nh),
                                    interpolation=cv2.INTER_NEAREST_EXACT)
        ch, cw = self.crop
        if ch == 0 and cw == 0:
            return image, id_map
        h, w = image.shape[:2]
        ch, cw = ch or h, cw or w
        y0 = int(torch.randint(h - ch + 1, (1,)).item()) if h > ch else 0
        x0 = int(torch.randint(w - cw + 1, (1,)).item()) if w > cw else 0
        image, id_map = image[y0:y0 + ch, x0:x0 + cw], id_map[y0:y0 + ch, x0:x0 + cw]
        if image.shape[:2] != (ch, cw):
            pad_image = np.zeros((ch, cw) + image.shape[2:], dtype=image.dtype)
            pad_ids = np.zeros((ch, cw), dtype=id_map.dtype)
            pad_image[:image.shape[0], :image.shape[1]] = image
            pad_ids[:id_map.shape[0], :id_map.shape[1]] = id_map
            image, id_map = pad_image, pad_ids
        return np.ascontiguousarray(image), np.ascontiguousarray(id_map)

    def __repr__(self) -> str:
        return f"RandomScaleCrop(scale={self.scale}, crop_size={self.crop})"


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
    """Training: resize (data.min_size / data.max_size), scale jitter + random crop (data.scale_jitter /
    data.crop_size, when set) and random flip if data.hflip; otherwise resize only."""
    ts: list[Callable] = [ResizeShortestEdge(cfg.min_size, cfg.max_size)]
    crop = RandomScaleCrop(cfg.scale_jitter, cfg.crop_size)     # validates the values also when not training
    if train and (crop.scale != (1.0, 1.0) or crop.crop != (0, 0)):
        ts.append(crop)
    if train and cfg.hflip:
        ts.append(RandomHorizontalFlip(0.5))
    return Compose(ts)
