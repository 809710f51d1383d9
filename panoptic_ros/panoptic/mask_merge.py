"""Shared parts of the mask-based merge policies (panoptic/mask_policies/): per-detection masks on the fuse grid
-> one owner map.

Unlike the box-crop policies of fuse.py (a detection's class logit inside its box), a mask-based policy builds a
mask per detection from a network output only it needs, then merges the masks. Its module (one per policy:
mask_policies/dense_iou.py, paste_borderness.py, mask_heuristic.py) holds its owner-map function; these are the
pieces they share. Conventions: the fuse grid's semantic logits [C, H, W] (C may be a subset of the classes,
labels then index that subset), detections in no particular order (boxes [N, 4] grid px, scores [N], labels [N]
channel), [N, H, W] per-detection maps, and the int32 owner-code map of postprocess.py (0 unknown, 1 + c stuff
channel c, 1 + C + n detection n). Pure batched tensor code (no loop over pixels), CPU or CUDA, any float dtype.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .fuse import first_argmax


def score_order(scores: torch.Tensor) -> torch.Tensor:
    """Detection indices by descending score; equal scores keep detection order."""
    return torch.sort(-scores.detach().double().cpu(), stable=True).indices


def first_true(stack: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(index of the first True along dim 0, any True) of a bool [N, H, W]."""
    if stack.shape[0] == 0:
        h, w = stack.shape[-2:]
        return torch.zeros((h, w), dtype=torch.int64, device=stack.device), \
            torch.zeros((h, w), dtype=torch.bool, device=stack.device)
    marks = stack.to(torch.uint8)
    top = marks.amax(0)
    return first_argmax(marks, top), top > 0


def stuff_fallback(logits: torch.Tensor, thing_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(owner code of the best stuff channel [H, W] (0 when there is no stuff channel), whether the semantic
    argmax is a thing channel [H, W])."""
    num_classes, height, width = logits.shape
    stuff_channels = torch.nonzero(~thing_mask).flatten()
    if stuff_channels.numel() == 0:
        code = torch.zeros((height, width), dtype=torch.int32, device=logits.device)
    else:
        stuff = logits.index_select(0, stuff_channels.to(logits.device))
        code = (stuff_channels.to(logits.device) + 1).to(torch.int32)[first_argmax(stuff, stuff.amax(0))]
    is_thing = thing_mask.to(logits.device)[first_argmax(logits, logits.amax(0))]
    return code, is_thing


def compose(owner: torch.Tensor, has: torch.Tensor, background: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Owner codes: detection owner[p] + 1 + C where ``has``, else the background code."""
    return torch.where(has, owner.to(torch.int32) + (1 + num_classes), background).to(torch.int32)


def box_iou_map(dense_boxes: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """IoU [N, H, W] between the box predicted at each pixel (dense_boxes [4, H, W] xyxy) and each box [N, 4]."""
    d = dense_boxes.float()[None]                                               # [1, 4, H, W]
    b = boxes.float().to(d.device)[:, :, None, None]                           # [N, 4, 1, 1]
    iw = (torch.minimum(d[:, 2], b[:, 2]) - torch.maximum(d[:, 0], b[:, 0])).clamp(min=0)
    ih = (torch.minimum(d[:, 3], b[:, 3]) - torch.maximum(d[:, 1], b[:, 1])).clamp(min=0)
    inter = iw * ih
    area_d = (d[:, 2] - d[:, 0]).clamp(min=0) * (d[:, 3] - d[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    return inter / (area_d + area_b - inter).clamp(min=1e-6)




def geometric_borderness(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """[N, H, W]: sqrt(min(l,r)/max(l,r) * min(t,b)/max(t,b)) from each pixel center to each box's sides
    (0 outside the box)."""
    b = boxes.float()
    xs = torch.arange(width, dtype=torch.float32, device=b.device) + 0.5
    ys = torch.arange(height, dtype=torch.float32, device=b.device) + 0.5
    left, right = xs[None] - b[:, 0:1], b[:, 2:3] - xs[None]                    # [N, W]
    top, bottom = ys[None] - b[:, 1:2], b[:, 3:4] - ys[None]                    # [N, H]
    rx = (torch.minimum(left, right) / torch.maximum(left, right).clamp(min=1e-6)).clamp(min=0)
    ry = (torch.minimum(top, bottom) / torch.maximum(top, bottom).clamp(min=1e-6)).clamp(min=0)
    return (ry[:, :, None] * rx[:, None, :]).sqrt()


def box_masks(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """bool [N, H, W]: pixel centers inside each box (x1 <= x + 0.5 < x2, as fuse.py)."""
    b = boxes.float()
    xs = torch.arange(width, dtype=torch.float32, device=b.device) + 0.5
    ys = torch.arange(height, dtype=torch.float32, device=b.device) + 0.5
    in_x = (xs[None] >= b[:, 0:1]) & (xs[None] < b[:, 2:3])
    in_y = (ys[None] >= b[:, 1:2]) & (ys[None] < b[:, 3:4])
    return in_y[:, :, None] & in_x[:, None, :]




def paste_masks(masks: torch.Tensor, boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """[N, H, W]: masks [N, M, M] (probabilities over each box) resampled bilinearly onto the grid's pixel centers
    inside each box, 0 outside. Separable: rows and columns are two small matrix products per detection."""
    n, size = masks.shape[0], masks.shape[-1]
    if n == 0:
        return masks.new_zeros((0, height, width))
    b = boxes.float().to(masks.device)
    cells = torch.arange(size, dtype=torch.float32, device=masks.device)

    def weights(coord: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:   # [N, L, M]
        t = ((coord[None] - lo[:, None]) / (hi - lo).clamp(min=1e-6)[:, None] * size - 0.5).clamp(0, size - 1)
        w = (1 - (t[:, :, None] - cells.view(1, 1, -1)).abs()).clamp(min=0)
        inside = (coord[None] >= lo[:, None]) & (coord[None] < hi[:, None])
        return w * inside[:, :, None]

    xs = torch.arange(width, dtype=torch.float32, device=masks.device) + 0.5
    ys = torch.arange(height, dtype=torch.float32, device=masks.device) + 0.5
    wy, wx = weights(ys, b[:, 1], b[:, 3]), weights(xs, b[:, 0], b[:, 2])
    return wy @ masks.float() @ wx.transpose(1, 2)


def sample_at(maps: torch.Tensor, stride: float, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """[K, h, w] maps whose cell j covers input pixels [j*stride, (j+1)*stride) -> [K, len(ys), len(xs)] bilinear
    samples at the input-pixel points (xs, ys) (edge cells repeat beyond the map)."""
    h, w = maps.shape[-2:]
    u = 2 * xs.float() / (w * stride) - 1
    v = 2 * ys.float() / (h * stride) - 1
    grid = torch.stack(torch.meshgrid(v, u, indexing="ij")[::-1], dim=-1)[None]   # [1, len(ys), len(xs), 2] (x, y)
    return F.grid_sample(maps[None].float(), grid, mode="bilinear", padding_mode="border", align_corners=False)[0]


def resample_to_grid(maps: torch.Tensor, stride: float, mapped) -> torch.Tensor:
    """[K, h, w] maps at ``stride`` -> [K, gh, gw] bilinear samples at the fuse grid's pixel centers."""
    xs, ys = grid_points(mapped, maps.device)
    return sample_at(maps, stride, xs, ys)


def grid_points(mapped, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Input-pixel coordinates (xs [gw], ys [gh]) of the fuse grid's pixel centers."""
    gh, gw = mapped.grid_size
    sy, sx = mapped.scale
    return ((torch.arange(gw, device=device, dtype=torch.float32) + 0.5) / sx,
            (torch.arange(gh, device=device, dtype=torch.float32) + 0.5) / sy)
