"""Stage 4: the network's dense outputs and boxes, mapped to the grid where the panoptic head runs.

Three grids (inference.fuse_resolution), from exact to fast:
- ``image``: the original image. Every class logit is upsampled bilinearly to the camera resolution: exact,
  but its cost grows with pixels x classes (the research's formulation).
- ``input``: the network input (e.g. 256x341 for a 480x640 camera with the shipped model). Only the channels
  the decision can need are upsampled to it: the stuff classes that win somewhere on the output grid and the
  classes of the detections (133 COCO classes -> typically 10-20); the owner map is resized to the image with
  nearest neighbour.
- ``output``: the network's own output grid (stride 4 or 8): no logit upsampling at all; the owner map is
  resized to the image with nearest neighbour.
Segment areas, boxes and the stuff-area threshold are always those of the image-resolution map (computed
exactly on the small map, see panoptic.postprocess.Resize).

Coordinates: a grid cell j covers network-input pixels [j / scale, (j + 1) / scale), so its center maps to
(j + 0.5) / scale; boxes and center offsets (network-input pixels) are multiplied by the grid's scale.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..modeling import preprocess as pre
from ..panoptic.postprocess import Resize


@dataclass
class MappedImage:
    """One image's panoptic-head inputs on its fuse grid, and what is needed to return to the image."""
    semantic: torch.Tensor               # [C, gh, gw] logits
    offsets: torch.Tensor | None         # [2, gh, gw] (x, y) offsets in grid pixels, or None when unused
    boxes: torch.Tensor                  # [N, 4] in grid pixels
    scale: tuple[float, float]           # (sy, sx) grid pixels per network-input pixel
    input_size: tuple[int, int]          # valid network-input region (h, w)
    image_size: tuple[int, int]          # original image (H, W)
    channels: torch.Tensor | None = None  # class channel of each semantic channel when only some were kept

    @property
    def grid_size(self) -> tuple[int, int]:
        return int(self.semantic.shape[-2]), int(self.semantic.shape[-1])

    def needs_resize(self) -> bool:
        return self.grid_size != tuple(self.image_size)


def output_stride(maps: torch.Tensor, padded_size: tuple[int, int]) -> int:
    """Stride of a dense output [B, C, hs, ws] relative to the padded network input (H, W): hs = ceil(H / s)."""
    stride = max(1, round(padded_size[0] / maps.shape[-2]))
    if any(math.ceil(size / stride) != have for size, have in zip(padded_size, maps.shape[-2:])):
        raise ValueError(f"dense output {tuple(maps.shape[-2:])} is not an integer stride of the input {padded_size}")
    return int(stride)


def decision_channels(semantic: torch.Tensor, labels: torch.Tensor, thing_mask: torch.Tensor,
                      with_things: bool) -> torch.Tensor:
    """Sorted class channels that can decide a pixel: the stuff classes that are the best stuff class at some cell
    of ``semantic`` [C, h, w], the detections' classes and, with_things (unknown_undetected_things), the thing
    classes that are the best thing class somewhere."""
    def winners(mask: torch.Tensor) -> torch.Tensor:
        group = torch.nonzero(mask).flatten()
        if group.numel() == 0:
            return group
        return group[semantic.index_select(0, group).argmax(0).unique()]

    parts = [winners(~thing_mask), labels.to(semantic.device).long()]
    if with_things:
        parts.append(winners(thing_mask))
    return torch.cat(parts).unique()


def map_image(semantic: torch.Tensor, offsets: torch.Tensor | None, boxes: torch.Tensor, stride: int,
              input_size: tuple[int, int], image_size: tuple[int, int], resolution: str,
              channels: torch.Tensor | None = None) -> MappedImage:
    """One image's stride-s semantic logits [C, hs, ws], offsets [2, hs, ws] (network-input px) and boxes
    (network-input px) on the fuse grid ``resolution`` (image | input | output); ``channels``: map only these
    class channels (see decision_channels)."""
    h, w = input_size
    if channels is not None:
        semantic = semantic.index_select(0, channels.to(semantic.device))
    if resolution == "image":
        grid = tuple(image_size)
    elif resolution == "input":
        grid = (h, w)
    elif resolution == "output":
        grid = (min(semantic.shape[-2], math.ceil(h / stride)), min(semantic.shape[-1], math.ceil(w / stride)))
    else:
        raise ValueError(f"fuse_resolution: {resolution!r} is not one of image, input, output")
    if resolution == "output":
        sy = sx = 1.0 / stride
        sem = semantic[:, :grid[0], :grid[1]]
        off = None if offsets is None else offsets[:, :grid[0], :grid[1]] * sx
    else:
        sy, sx = grid[0] / h, grid[1] / w
        sem = pre.stride_to_image(semantic, input_size, grid, stride)
        off = None
        if offsets is not None:
            off = pre.stride_to_image(offsets, input_size, grid, stride)
            off = off * off.new_tensor([sx, sy]).view(2, 1, 1)
    grid_boxes = boxes.float() * boxes.new_tensor([sx, sy, sx, sy], dtype=torch.float32)
    return MappedImage(sem, off, grid_boxes, (sy, sx), (h, w), tuple(image_size), channels)


def image_resize(mapped: MappedImage) -> Resize | None:
    """The nearest-neighbour resize from the fuse grid to the image (pixel centers), None when they coincide."""
    if not mapped.needs_resize():
        return None
    (height, width), (h, w), (sy, sx) = mapped.image_size, mapped.input_size, mapped.scale
    gh, gw = mapped.grid_size
    device = mapped.semantic.device
    ys = (torch.arange(height, device=device, dtype=torch.float64) + 0.5) * (h / height) * sy
    xs = (torch.arange(width, device=device, dtype=torch.float64) + 0.5) * (w / width) * sx
    return Resize(ys.floor().long().clamp_(0, gh - 1), xs.floor().long().clamp_(0, gw - 1))


def to_image(grid_map: torch.Tensor, mapped: MappedImage) -> torch.Tensor:
    """Nearest-neighbour resize of a [gh, gw] map (owner codes, class ids) to the original image."""
    resize = image_resize(mapped)
    return grid_map if resize is None else resize.apply(grid_map)
