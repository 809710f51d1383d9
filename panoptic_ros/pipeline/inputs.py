"""Stage 1: camera images -> the network's normalised, padded input batch (and the sizes to map back).

uint8 HxWx3 arrays (what cameras and files give) are resized on uint8 (modeling.preprocess.resize_uint8: torch's
bilinear, anti-aliased when shrinking), faster than converting the full-size image to float first.
Float tensors [3, H, W] in 0..1 keep the torch path (bilinear, anti-aliased when shrinking).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data.transforms import resized_shape
from ..modeling import preprocess as pre
from ..modeling.preprocess import input_limits


@dataclass
class PreparedBatch:
    """Network input for a list of images: normalised, padded batch and the sizes needed to map back."""
    images: torch.Tensor                     # [B, 3, H, W] normalised, zero padded
    input_sizes: list[tuple[int, int]]       # each image's (h, w) inside the batch (after resizing)
    original_sizes: list[tuple[int, int]]    # each image's (h, w) as given


def prepare_batch(images: list, cfg, inference, device: torch.device) -> PreparedBatch:
    """Resize (shorter side inference.input_size), normalise and pad a list of images onto ``device``."""
    if not isinstance(images, (list, tuple)):
        raise TypeError("predict() takes a list of images (HxWx3 uint8 RGB arrays or [3, H, W] float tensors)")
    if not images:
        raise ValueError("predict() got an empty list of images")
    shorter, longer = input_limits(cfg, inference)
    resized, input_sizes, original_sizes = [], [], []
    for i, image in enumerate(images):
        if isinstance(image, np.ndarray) and image.dtype == np.uint8:
            if image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(f"image {i}: expected an HxWx3 RGB array, got shape {image.shape}")
            h, w = image.shape[:2]
            size = resized_shape(h, w, shorter, longer)
            small = torch.from_numpy(pre.resize_uint8(image, size)).to(device).permute(2, 0, 1)
            im = small.float().div_(255.0)
        else:
            im = pre.as_float_image(image, device, i)
            h, w = im.shape[-2:]
            size = resized_shape(h, w, shorter, longer)
            im = pre.resize_image(im, size)
        resized.append(im)
        input_sizes.append(tuple(size))
        original_sizes.append((int(h), int(w)))
    return PreparedBatch(pre.normalized_batch(resized, cfg.model.size_divisibility), input_sizes, original_sizes)
