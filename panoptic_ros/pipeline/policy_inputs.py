"""Stage 5a of the mask-based merge policies: the optional network outputs each needs, on the fuse grid.

- dense_iou: P_loc(x, y, n) = IoU(box predicted at the pixel, detection n). The dense box of a pixel is each
  level's (l, t, r, b) regression resampled bilinearly to the pixel and decoded at its center; with the levelness
  head (and inference.dense_iou_levelness) the level it picks (0 = background: no box), else the max IoU over levels.
- paste_borderness: the border-ness each detection's level predicts at every pixel (sigmoid, resampled).
- mask_heuristic: the RoI mask head on the pyramid features for the final detections (torch runtime only), each
  detection's own-class 28x28 probability pasted into the grid inside its box.
Only the active policy's stage runs, so a head one policy needs costs nothing when another is active.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..modeling import detection_head as det
from ..panoptic.mask_merge import box_iou_map, paste_masks
from .mapping import MappedImage


def sample_at(maps: torch.Tensor, stride: float, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """[K, h, w] maps whose cell j covers input pixels [j*stride, (j+1)*stride) -> [K, len(ys), len(xs)] bilinear
    samples at the input-pixel points (xs, ys) (edge cells repeat beyond the map)."""
    h, w = maps.shape[-2:]
    u = 2 * xs.float() / (w * stride) - 1
    v = 2 * ys.float() / (h * stride) - 1
    grid = torch.stack(torch.meshgrid(v, u, indexing="ij")[::-1], dim=-1)[None]   # [1, len(ys), len(xs), 2] (x, y)
    return F.grid_sample(maps[None].float(), grid, mode="bilinear", padding_mode="border", align_corners=False)[0]


def resample_to_grid(maps: torch.Tensor, stride: float, mapped: MappedImage) -> torch.Tensor:
    """[K, h, w] maps at ``stride`` -> [K, gh, gw] bilinear samples at the fuse grid's pixel centers."""
    xs, ys = grid_points(mapped, maps.device)
    return sample_at(maps, stride, xs, ys)


def grid_points(mapped: MappedImage, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Input-pixel coordinates (xs [gw], ys [gh]) of the fuse grid's pixel centers."""
    gh, gw = mapped.grid_size
    sy, sx = mapped.scale
    return ((torch.arange(gw, device=device, dtype=torch.float32) + 0.5) / sx,
            (torch.arange(gh, device=device, dtype=torch.float32) + 0.5) / sy)


def dense_location_prob(raw: dict, index: int, boxes: torch.Tensor, mapped: MappedImage,
                        use_levelness: bool = True) -> torch.Tensor:
    """[N, gh, gw]: IoU between the box the network predicts at each pixel and each detection box (input px),
    computed on the network's output grid (stride of "semantic", as the research) and resampled to the fuse grid."""
    regressions = [level[index] for level in raw["box_regression"]]
    device = regressions[0].device
    gh, gw = mapped.grid_size
    if len(boxes) == 0:
        return torch.zeros((0, gh, gw), device=device)
    stride = raw["box_regression"][0].shape[-1] * det.DETECTION_STRIDES[0] / raw["semantic"].shape[-1]
    h, w = mapped.input_size
    xs = torch.arange(-(-w // int(stride)), device=device, dtype=torch.float32) * stride + stride / 2
    ys = torch.arange(-(-h // int(stride)), device=device, dtype=torch.float32) * stride + stride / 2
    levelness = raw.get("levelness") if use_levelness else None
    pick = None
    if levelness is not None:
        pick = sample_at(levelness[index], det.DETECTION_STRIDES[0], xs, ys).argmax(0)   # 0 = background
    best = torch.zeros((len(boxes), len(ys), len(xs)), device=device)
    for level, (ltrb, level_stride) in enumerate(zip(regressions, det.DETECTION_STRIDES)):
        d = sample_at(ltrb, level_stride, xs, ys)                                    # [4, hs, ws]
        dense = torch.stack([xs.view(1, -1) - d[0], ys.view(-1, 1) - d[1], xs.view(1, -1) + d[2],
                             ys.view(-1, 1) + d[3]])
        iou = box_iou_map(dense, boxes.to(device))
        if pick is None:
            best = torch.maximum(best, iou)
        else:
            best = torch.where((pick == level + 1)[None], iou, best)
    return resample_to_grid(best, stride, mapped)


def predicted_borderness(raw: dict, index: int, levels: torch.Tensor, mapped: MappedImage) -> torch.Tensor:
    """[N, gh, gw]: sigmoid of the border-ness output of each detection's pyramid level, on the fuse grid."""
    maps = [level[index] for level in raw["borderness"]]
    gh, gw = mapped.grid_size
    out = torch.zeros((len(levels), gh, gw), device=maps[0].device)
    for level in levels.unique().tolist():
        which = torch.nonzero(levels.to(out.device) == level).flatten()
        out[which] = torch.sigmoid(resample_to_grid(maps[level], det.DETECTION_STRIDES[level], mapped))
    return out


def roi_mask_probs(runtime, raw: dict, detections: list, padded: tuple[int, int],
                   thing_channels: torch.Tensor) -> list[torch.Tensor]:
    """Per image [N, 28, 28]: the RoI mask head's probability of each detection's own class (network-input boxes)."""
    boxes = [d.boxes.float() for d in detections]
    if sum(len(b) for b in boxes) == 0:
        return [torch.zeros((0, 28, 28), device=b.device) for b in boxes]
    logits = runtime.mask_logits(raw["features"], boxes, padded)                  # [sum N, K, 28, 28]
    classes = torch.cat([torch.searchsorted(thing_channels.to(d.labels.device), d.labels) for d in detections])
    own = torch.sigmoid(logits[torch.arange(len(classes), device=logits.device), classes.to(logits.device)].float())
    return list(own.split([len(b) for b in boxes]))


def pasted_masks(probs: torch.Tensor, mapped: MappedImage) -> torch.Tensor:
    """[N, gh, gw]: 28x28 mask probabilities pasted into the fuse grid inside each detection's (grid) box."""
    gh, gw = mapped.grid_size
    return paste_masks(probs, mapped.boxes, gh, gw)
