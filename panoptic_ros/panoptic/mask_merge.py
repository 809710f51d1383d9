"""The mask-based merge policies (issue 8): per-detection masks on the fuse grid -> one owner map.

Unlike the box-crop policies of fuse.py (a detection's class logit inside its box), these build a mask per
detection from a network output that only they need, then merge the masks. All functions take the fuse grid's
semantic logits [C, H, W] (C may be a subset of the classes, labels then index that subset), detections sorted
by nothing in particular (boxes [N, 4] grid px, scores [N], labels [N] channel) and [N, H, W] per-detection maps,
and return the int32 owner-code map of postprocess.py (0 unknown, 1 + c stuff channel c, 1 + C + n detection n).
Pure batched tensor code (no loop over pixels; at most a loop over detections), CPU or CUDA, any float dtype.

- dense_iou (Hou et al., CVPR 2020): mask_n = IoU(box predicted at the pixel, box_n) x P(class_n | pixel) >
  sigma; a pixel goes to the highest-scoring detection whose mask holds it (pixels outside the box can join);
  the rest takes stuff from the semantics (unknown where the semantic argmax is a thing class).
- paste_borderness: a detection's mask = its box's pixels of its class (semantic argmax); in descending score a
  mask sharing more than ``overlap`` of its area with kept masks is dropped; pixels several kept masks share go to
  the detection whose geometric border-ness (of its box) at the pixel is closest to the predicted border-ness;
  the rest as dense_iou.
- mask_heuristic (de Geus et al. 2018, after Kirillov et al.'s panoptic baseline): full-image instance masks
  (RoI mask probability > threshold); advanced: overlaps by per-pixel mask probability x score, unclaimed
  "thing" pixels take the best stuff class when its probability exceeds alpha, else unknown; baseline:
  overlaps by score, unclaimed thing pixels unknown.
"""
from __future__ import annotations

import torch

from .fuse import first_argmax


def _order(scores: torch.Tensor) -> torch.Tensor:
    """Detection indices by descending score; equal scores keep detection order."""
    return torch.sort(-scores.detach().double().cpu(), stable=True).indices


def _first_true(stack: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
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


def _compose(owner: torch.Tensor, has: torch.Tensor, background: torch.Tensor, num_classes: int) -> torch.Tensor:
    return torch.where(has, owner.to(torch.int32) + (1 + num_classes), background).to(torch.int32)


# --------------------------------------------------------------------------------------------- dense_iou
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


def dense_iou_owner(logits: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, location_prob: torch.Tensor,
                    thing_mask: torch.Tensor, *, sigma: float = 0.3) -> torch.Tensor:
    """Owner map of dense_iou. location_prob [N, H, W]: P_loc = IoU(predicted box at the pixel, box_n) (the
    caller picks the level: levelness or max over levels). M = P_loc x softmax(logits)[label_n]; mask = M > sigma;
    each pixel goes to the highest-scoring detection whose mask holds it; the rest takes its stuff class from the
    semantics (the best stuff class where the argmax is stuff, unknown where it is a thing class)."""
    num_classes = logits.shape[0]
    background, is_thing = stuff_fallback(logits, thing_mask)
    background = background.masked_fill(is_thing, 0)
    if len(scores) == 0:
        return background
    order = _order(scores).to(logits.device)
    prob = torch.softmax(logits.float(), dim=0).index_select(0, labels.to(logits.device)[order])
    masks = (location_prob.to(prob.device).float()[order] * prob) > sigma
    first, has = _first_true(masks)
    return _compose(order[first], has, background, num_classes)


# --------------------------------------------------------------------------------------------- paste_borderness
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


def paste_borderness_owner(logits: torch.Tensor, boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
                           predicted_borderness: torch.Tensor, thing_mask: torch.Tensor, *,
                           overlap: float = 0.3) -> torch.Tensor:
    """Owner map of paste_borderness. predicted_borderness [N, H, W]: the network's border-ness (0..1) at each
    pixel as seen by detection n (its level's map), or [H, W] for one map shared by all. Pixels no kept mask takes:
    stuff from the semantics (best stuff class where the argmax is stuff, unknown where it is a thing class)."""
    num_classes, height, width = logits.shape
    background, is_thing = stuff_fallback(logits, thing_mask)
    background = background.masked_fill(is_thing, 0)
    if len(scores) == 0:
        return background
    device = logits.device
    order = _order(scores).to(device)
    boxes = boxes.to(device)[order]
    semantic = first_argmax(logits, logits.amax(0))
    masks = box_masks(boxes, height, width) & (semantic[None] == labels.to(device)[order].view(-1, 1, 1))
    areas = masks.flatten(1).sum(1).tolist()
    taken = torch.zeros((height, width), dtype=torch.bool, device=device)
    kept = []
    for k, area in enumerate(areas):
        if area == 0:
            continue
        shared = int((masks[k] & taken).sum())
        if shared > overlap * area:
            continue
        kept.append(k)
        taken |= masks[k]
    if not kept:
        return background
    kept_t = torch.tensor(kept, dtype=torch.int64, device=device)
    pred = predicted_borderness.to(device).float()
    pred = pred[order][kept_t] if pred.dim() == 3 else pred[None]
    cost = (geometric_borderness(boxes[kept_t], height, width) - pred).abs()
    cost = cost.masked_fill(~masks[kept_t], float("inf"))
    best = cost.amin(0)
    first = first_argmax(cost, best)                                              # closest; ties: higher score
    return _compose(order[kept_t[first]], torch.isfinite(best), background, num_classes)


# --------------------------------------------------------------------------------------------- mask_heuristic
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


def mask_heuristic_owner(logits: torch.Tensor, scores: torch.Tensor, mask_prob: torch.Tensor,
                         thing_mask: torch.Tensor, *, heuristics: str = "advanced", alpha: float = 0.25,
                         mask_threshold: float = 0.5) -> torch.Tensor:
    """Owner map of mask_heuristic. mask_prob [N, H, W]: each detection's pasted mask probability.
    advanced: a pixel in several instance masks (prob > mask_threshold) goes to the highest prob x score;
    unclaimed pixels whose semantic argmax is a thing class take the best stuff class if its softmax probability
    exceeds alpha, else unknown. baseline: overlaps go to the higher score; unclaimed thing pixels are unknown.
    Stuff pixels keep their semantic stuff class; instances take priority over semantics."""
    if heuristics not in ("advanced", "baseline"):
        raise ValueError(f"mask_heuristics: {heuristics!r} is not one of advanced, baseline")
    num_classes = logits.shape[0]
    background, is_thing = stuff_fallback(logits, thing_mask)
    if heuristics == "advanced":
        stuff_channels = torch.nonzero(~thing_mask).flatten().to(logits.device)
        if stuff_channels.numel():
            best_stuff = torch.softmax(logits.float(), 0).index_select(0, stuff_channels).amax(0)
            background = background.masked_fill(is_thing & (best_stuff <= alpha), 0)
        else:
            background = background.masked_fill(is_thing, 0)
    else:
        background = background.masked_fill(is_thing, 0)
    if len(scores) == 0:
        return background
    device = logits.device
    prob = mask_prob.to(device).float()
    inside = prob > mask_threshold
    if heuristics == "advanced":
        value = (prob * scores.to(device).float().view(-1, 1, 1)).masked_fill(~inside, -1.0)
        best = value.amax(0)
        order = _order(scores).to(device)
        ordered = value[order]
        first = first_argmax(ordered, best)                                    # ties: the higher score
        return _compose(order[first], best >= 0, background, num_classes)
    order = _order(scores).to(device)
    first, has = _first_true(inside[order])
    return _compose(order[first], has, background, num_classes)
