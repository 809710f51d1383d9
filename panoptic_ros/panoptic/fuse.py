"""The parameter-free panoptic head: semantic logits + boxes -> one panoptic map.

Method (Hou et al., "Real-time panoptic segmentation from dense detections", CVPR 2020): keep the stuff
channels; for each detection crop the logit map of its class to its box (-inf outside) and stack it as an
instance channel; each pixel takes the argmax. Nothing is learned and nothing is thresholded except the
stuff area. Implemented without the [N, H, W] stack: detections are visited in merge-policy order and each
updates a running (best logit, owner) map inside its box only: the cost is linear in pixels (two passes over
the stuff channels) plus the total box area, and memory stays O(H * W).

Per pixel, with v_n = logit of detection n's class (inside its box) and s = best stuff logit:
  1. the detection with the highest v_n owns the pixel's instance slot; same-class boxes have equal v_n and
     the merge policy decides (see policies.py); exact ties between classes are broken the same way;
  2. the pixel is that detection's when v_n > s, else it is the best stuff class (ties go to stuff);
  3. "thing pixels" (best thing logit > best stuff logit) that no detection takes in 1-2 keep the best stuff
     class (what the research's argmax does: their class has no channel there), or become unknown (0) with
     unknown_undetected_things;
  4. one segment per stuff class (connected or not, as COCO panoptic); stuff with fewer pixels than
     stuff_area_threshold becomes unknown; detections left without pixels give no segment.

Non-finite logits raise ValueError where they are read: NaN / +inf anywhere in the stuff channels (or a
pixel whose stuff logits are all -inf), NaN / +inf in a detection's class channel inside its box, and, with
unknown_undetected_things, in any thing channel. Thing channels outside every box are otherwise not read.

Coordinates: pixel (row i, column j) covers [j, j+1) x [i, i+1); its center (j + 0.5, i + 0.5) is inside box
(x1, y1, x2, y2) when x1 <= j + 0.5 < x2 and y1 <= i + 0.5 < y2. Boxes are clipped to the image, box centers
and areas are those of the clipped box. center_offsets point from the pixel center to its box center.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from panoptic_ros.config.schema import InferenceConfig

from .policies import MergePolicy, get_policy
from .postprocess import Resize, extract_segments
from .result import PanopticResult


def _as_tensor(value, name: str, device=None) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value if device is None else value.to(device)
    try:
        return torch.as_tensor(np.asarray(value), device=device)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a tensor or array, got {type(value).__name__}") from exc


def _check_logits(semantic_logits) -> torch.Tensor:
    logits = _as_tensor(semantic_logits, "semantic_logits")
    if logits.dim() != 3:
        raise ValueError(f"semantic_logits: expected shape [C, H, W], got {list(logits.shape)}")
    if not logits.is_floating_point():
        raise ValueError(f"semantic_logits: expected a floating point tensor, got {logits.dtype}")
    if logits.shape[0] == 0:
        raise ValueError("semantic_logits: has no class channels (C = 0)")
    return logits.detach()


def _check_detections(boxes, scores, labels, thing_mask: torch.Tensor):
    """Detections as CPU tensors (they steer a Python loop), each problem named."""
    boxes = _as_tensor(boxes, "boxes").detach().cpu()
    scores = _as_tensor(scores, "scores").detach().cpu()
    labels = _as_tensor(labels, "labels").detach().cpu()
    if boxes.numel() == 0 and scores.numel() == 0 and labels.numel() == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes: expected shape [N, 4] (x1, y1, x2, y2), got {list(boxes.shape)}")
    n = boxes.shape[0]
    if scores.shape != (n,):
        raise ValueError(f"scores: expected shape [{n}] (one per box), got {list(scores.shape)}")
    if labels.shape != (n,):
        raise ValueError(f"labels: expected shape [{n}] (one per box), got {list(labels.shape)}")
    boxes, scores = boxes.double(), scores.double()
    if not torch.isfinite(boxes).all():
        raise ValueError(f"boxes: contains NaN or inf (detections {_bad_rows(~torch.isfinite(boxes).all(1))})")
    if not torch.isfinite(scores).all():
        raise ValueError(f"scores: contains NaN or inf (detections {_bad_rows(~torch.isfinite(scores))})")
    if labels.is_floating_point() or labels.dtype == torch.bool:
        if labels.dtype == torch.bool or not torch.equal(labels, labels.round()):
            raise ValueError(f"labels: expected integer channel indices, got {labels.dtype}")
    labels = labels.long()
    num_classes = thing_mask.numel()
    outside = (labels < 0) | (labels >= num_classes)
    if outside.any():
        raise ValueError(f"labels: channel index out of range 0..{num_classes - 1} "
                         f"(detections {_bad_rows(outside)}: {labels[outside].tolist()[:5]})")
    stuff = ~thing_mask.cpu()[labels]
    if stuff.any():
        raise ValueError(f"labels: detections {_bad_rows(stuff)} have stuff channels {labels[stuff].tolist()[:5]}; "
                         "detections must be thing classes (thing_mask)")
    return boxes, scores, labels


def _bad_rows(mask: torch.Tensor) -> str:
    rows = torch.nonzero(mask).flatten().tolist()
    return ", ".join(map(str, rows[:5])) + (", ..." if len(rows) > 5 else "")


def _check_thing_mask(thing_mask, num_classes: int, device) -> torch.Tensor:
    mask = _as_tensor(thing_mask, "thing_mask")
    if mask.dim() != 1 or mask.numel() != num_classes:
        raise ValueError(f"thing_mask: expected shape [{num_classes}] (one per logit channel), got {list(mask.shape)}")
    if mask.dtype != torch.bool:
        if mask.is_floating_point() or not ((mask == 0) | (mask == 1)).all():
            raise ValueError(f"thing_mask: expected bool values, got {mask.dtype}")
        mask = mask.bool()
    return mask.to(device)


def _check_offsets(center_offsets, height: int, width: int, device, merge: MergePolicy) -> torch.Tensor | None:
    if center_offsets is None:
        if merge.needs_center_offsets:
            raise ValueError(f"center_offsets: policy {merge.name!r} needs the [2, H, W] instance-center offsets")
        return None
    offsets = _as_tensor(center_offsets, "center_offsets", device).detach()
    if tuple(offsets.shape) != (2, height, width):
        raise ValueError(f"center_offsets: expected shape [2, {height}, {width}], got {list(offsets.shape)}")
    if not offsets.is_floating_point():
        offsets = offsets.float()
    if merge.needs_center_offsets and not torch.isfinite(offsets).all():
        raise ValueError("center_offsets: contains NaN or inf")
    return offsets


def _check_threshold(stuff_area_threshold) -> int:
    if isinstance(stuff_area_threshold, bool) or not float(stuff_area_threshold).is_integer() \
            or stuff_area_threshold < 0:
        raise ValueError(f"stuff_area_threshold: expected an integer >= 0, got {stuff_area_threshold!r}")
    return int(stuff_area_threshold)


def _check_finite(best: torch.Tensor, where: str, allow_minus_inf: bool = False) -> None:
    """NaN anywhere or +inf in the reduced channels propagates into their per-pixel maximum: checking that
    [H, W] map costs no extra pass over the logits."""
    bad = (torch.isnan(best) | torch.isposinf(best)) if allow_minus_inf else ~torch.isfinite(best)
    if bad.any():
        raise ValueError(f"semantic_logits: NaN or inf in the {where} ({int(bad.sum())} pixels)")


def _channels(logits: torch.Tensor, channels: torch.Tensor) -> torch.Tensor:
    """logits[channels] without a copy when the channels are one contiguous run (COCO: things, then stuff)."""
    first, count = int(channels[0]), int(channels.numel())
    if int(channels[-1]) - first + 1 == count:
        return logits[first:first + count]
    return logits.index_select(0, channels.to(logits.device))


def first_argmax(block: torch.Tensor, best: torch.Tensor, chunk_bytes: int = 4 << 20) -> torch.Tensor:
    """First index along dim 0 of [K, H, W] ``block`` where it equals ``best`` [H, W] (its max: = ``argmax(0)``;
    its min: = ``argmin(0)``); where nothing equals it, an index in 0..K-1 that the caller must mask.

    On CPU torch's argmax over a leading dim is not vectorised (3-5x slower than amax), so: mark the entries
    equal to best with descending uint8 weights and take the amax of those (lowest index wins ties), a
    few rows at a time so the marks stay small (no page faults, cache resident).
    """
    count, height, width = block.shape
    if block.device.type != "cpu" or count > 255:
        return torch.eq(block, best).to(torch.uint8).argmax(dim=0)
    rows = max(1, min(height, chunk_bytes // max(1, count * width)))
    weights = torch.arange(count, 0, -1, dtype=torch.uint8).view(-1, 1, 1)
    marks = torch.empty((count, rows, width), dtype=torch.bool)
    top = torch.empty((height, width), dtype=torch.uint8)
    for r0 in range(0, height, rows):
        n = min(rows, height - r0)
        chunk = torch.eq(block[:, r0:r0 + n], best[r0:r0 + n], out=marks[:, :n]).view(torch.uint8).mul_(weights)
        torch.amax(chunk, dim=0, out=top[r0:r0 + n])
    return (count - top.long()).clamp_(max=count - 1)


def pixel_ranges(boxes: torch.Tensor, height: int, width: int) -> list[tuple[int, int, int, int]]:
    """(row0, row1, col0, col1) half-open pixel ranges of each box (pixel centers inside), clipped to the image."""
    if boxes.numel() == 0:
        return []
    cols = torch.ceil(boxes[:, [0, 2]] - 0.5).clamp(0, width).long()
    rows = torch.ceil(boxes[:, [1, 3]] - 0.5).clamp(0, height).long()
    return [tuple(r) for r in torch.cat([rows, cols], dim=1).tolist()]


def clip_boxes(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Boxes clipped to the image (x to [0, W], y to [0, H]); degenerate boxes stay degenerate."""
    out = boxes.clone()
    out[:, 0::2] = out[:, 0::2].clamp(0, width)
    out[:, 1::2] = out[:, 1::2].clamp(0, height)
    return out


# assign_detections decides all detections at once ([N, H, W] tensors) on small grids with many boxes (the output
# grid of the pipeline at COCO scale), and one box crop at a time otherwise (memory O(H * W)); same result.
# Measured on 2 CPU cores: a whole-grid operation costs ~3 ns per element x ~12 operations, a box of the loop ~70
# us plus ~8 ns per pixel of its crop, so all-at-once pays off when the grid is below ~25k pixels plus ~3 box areas.
DENSE_ASSIGN_ELEMENTS = 2_000_000     # memory cap of the all-at-once path (N * H * W)
DENSE_GRID_PIXELS = 25_000


def _dense_is_cheaper(count: int, height: int, width: int, mean_area: float) -> bool:
    return count * height * width <= DENSE_ASSIGN_ELEMENTS and height * width <= DENSE_GRID_PIXELS + 3 * mean_area


def _assign_dense(logits: torch.Tensor, labels: torch.Tensor, ranges: list, order: torch.Tensor,
                  merge: MergePolicy, centers: list, center_offsets: torch.Tensor | None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """assign_detections for every detection at once, with the same rule as its loop: detections stacked in visiting
    order; the highest logit wins; on equal logits the per-pixel policy's lowest cost, then the first visited; an
    order policy needs a logit above -inf (the loop's strict comparison). Few full-size operations: boxes are
    separable (row range x column range), so "outside" is one broadcast OR of small masks."""
    _, height, width = logits.shape
    device = logits.device
    ordered = order.tolist()
    rng = torch.tensor([ranges[n] for n in ordered], dtype=torch.int64, device=device)          # [N, 4]
    ys = torch.arange(height, device=device).view(1, -1, 1)
    xs = torch.arange(width, device=device).view(1, 1, -1)
    row_out = (ys < rng[:, 0, None, None]) | (ys >= rng[:, 1, None, None])                       # [N, H, 1]
    col_out = (xs < rng[:, 2, None, None]) | (xs >= rng[:, 3, None, None])                       # [N, 1, W]
    outside = row_out | col_out                                                                 # [N, H, W]
    values = logits.index_select(0, labels[order].to(device)).masked_fill_(outside, -math.inf)
    best_val = values.amax(dim=0)                                   # NaN sticks, as in the loop
    if merge.per_pixel:
        px = torch.arange(width, dtype=torch.float32, device=device) + 0.5
        py = torch.arange(height, dtype=torch.float32, device=device) + 0.5
        cost = merge.pixel_costs([centers[n] for n in ordered], px, py, center_offsets)
        cost.masked_fill_(torch.ne(values, best_val).logical_or_(outside), math.inf)
        best_cost = cost.amin(dim=0)
        first = first_argmax(cost, best_cost)                       # first (in visiting order) lowest cost
        has = best_cost < math.inf
    else:
        first = first_argmax(values, best_val)                      # first (in visiting order) best logit
        has = best_val > -math.inf
    owner = order.to(device)[first].to(torch.int32)
    return best_val, torch.where(has, owner, torch.full_like(owner, -1))


def assign_detections(logits: torch.Tensor, boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
                      merge: MergePolicy, center_offsets: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per pixel, the best instance channel: (logit [H, W] in the logits' dtype, -inf where no box;
    detection index int32 [H, W], -1 where no box). Detections are CPU tensors (validated)."""
    _, height, width = logits.shape
    device = logits.device
    best_val = torch.full((height, width), -math.inf, dtype=logits.dtype, device=device)
    best_idx = torch.full((height, width), -1, dtype=torch.int32, device=device)
    if boxes.shape[0] == 0:
        return best_val, best_idx
    clipped = clip_boxes(boxes, height, width)
    areas = (clipped[:, 2] - clipped[:, 0]).clamp(min=0) * (clipped[:, 3] - clipped[:, 1]).clamp(min=0)
    centers = ((clipped[:, :2] + clipped[:, 2:]) / 2).tolist()
    ranges = pixel_ranges(boxes, height, width)
    order = merge.order(scores, areas)
    if _dense_is_cheaper(boxes.shape[0], height, width, float(areas.mean())):
        return _assign_dense(logits, labels, ranges, order, merge, centers, center_offsets)
    label_list = labels.tolist()
    if merge.per_pixel:
        best_cost = torch.full((height, width), math.inf, dtype=torch.float32, device=device)
        xs = torch.arange(width, dtype=torch.float32, device=device) + 0.5
        ys = torch.arange(height, dtype=torch.float32, device=device) + 0.5
    for n in order.tolist():
        r0, r1, c0, c1 = ranges[n]
        if r1 <= r0 or c1 <= c0:
            continue  # degenerate or outside the image: no pixels, no segment
        value = logits[label_list[n], r0:r1, c0:c1]
        cur_val = best_val[r0:r1, c0:c1]
        wins = value > cur_val
        if merge.per_pixel:
            offsets = None if center_offsets is None else center_offsets[:, r0:r1, c0:c1]
            cost = merge.pixel_cost(centers[n], xs[c0:c1], ys[r0:r1], offsets)
            cur_cost = best_cost[r0:r1, c0:c1]
            wins |= (value == cur_val).logical_and_(cost < cur_cost)
            torch.where(wins, cost, cur_cost, out=cur_cost)
        # = where(wins, value, cur_val) (equal on ties), except that a NaN logit sticks: fuse() then reports it
        torch.maximum(cur_val, value, out=cur_val)
        best_idx[r0:r1, c0:c1].masked_fill_(wins, n)
    return best_val, best_idx


@dataclass
class OwnerMap:
    """fuse()'s decision before segment extraction: the owner code of every pixel (see postprocess.py) and the
    validated detections, so the map can be resized (nearest) before its segments are counted."""
    raw: torch.Tensor            # int32 [H, W] owner codes
    thing_mask: torch.Tensor     # bool [C]
    scores: torch.Tensor         # [N] float64, CPU
    labels: torch.Tensor         # [N] int64, CPU


def fuse_owner_map(semantic_logits: torch.Tensor, boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
                   *, thing_mask: torch.Tensor, policy: str = "highest_confidence",
                   center_offsets: torch.Tensor | None = None,
                   unknown_undetected_things: bool = InferenceConfig.unknown_undetected_things) -> OwnerMap:
    """Steps 1-3 of the module doc (who owns each pixel), without the stuff-area removal of step 4."""
    logits = _check_logits(semantic_logits)
    num_classes, height, width = logits.shape
    mask = _check_thing_mask(thing_mask, num_classes, logits.device)
    merge = get_policy(policy)
    if merge.builds_masks:
        raise ValueError(f"policy {merge.name!r} builds masks from network outputs fuse() does not receive; run it "
                         "through PanopticPipeline (or panoptic.mask_merge with those outputs)")
    boxes, scores, labels = _check_detections(boxes, scores, labels, mask)
    offsets = _check_offsets(center_offsets, height, width, logits.device, merge)
    if height == 0 or width == 0:
        return OwnerMap(torch.zeros((height, width), dtype=torch.int32, device=logits.device), mask, scores, labels)

    stuff_channels = torch.nonzero(~mask).flatten()
    thing_channels = torch.nonzero(mask).flatten()
    stuff = _channels(logits, stuff_channels) if stuff_channels.numel() else None
    stuff_val = stuff_code = thing_val = None
    if stuff is not None:
        stuff_val = stuff.amax(dim=0)
        _check_finite(stuff_val, "stuff channels")
        stuff_code = (stuff_channels + 1).to(torch.int32)[first_argmax(stuff, stuff_val)]
    if unknown_undetected_things and thing_channels.numel():
        thing_val = _channels(logits, thing_channels).amax(dim=0)
        _check_finite(thing_val, "thing channels")

    inst_val, inst_idx = assign_detections(logits, boxes, scores, labels, merge, offsets)
    _check_finite(inst_val, "thing channels inside the boxes", allow_minus_inf=True)  # -inf = no box
    taken = inst_idx >= 0
    if stuff_val is not None:
        taken &= inst_val > stuff_val
        raw = torch.where(taken, inst_idx + (1 + num_classes), stuff_code)
    else:
        raw = torch.where(taken, inst_idx + (1 + num_classes), 0)
    if unknown_undetected_things and thing_val is not None:
        thing_pixels = thing_val > stuff_val if stuff_val is not None else torch.ones_like(taken)
        raw.masked_fill_(thing_pixels & ~taken, 0)
    return OwnerMap(raw.to(torch.int32), mask, scores, labels)


def segments_of(owner: OwnerMap, stuff_area_threshold: int, resize: Resize | None = None) -> PanopticResult:
    """Step 4 of the module doc on an owner map: small stuff removed, ids, areas, boxes; with ``resize`` the
    result is at the resized (image) resolution, computed exactly from the small map."""
    threshold = _check_threshold(stuff_area_threshold)
    if owner.raw.numel() == 0:
        if resize is not None:
            return PanopticResult.empty(len(resize.rows), len(resize.cols), owner.raw.device)
        return PanopticResult.empty(*owner.raw.shape, owner.raw.device)
    return extract_segments(owner.raw, thing_mask=owner.thing_mask, scores=owner.scores, labels=owner.labels,
                            stuff_area_threshold=threshold, resize=resize)


def fuse(semantic_logits: torch.Tensor, boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, *,
         thing_mask: torch.Tensor, policy: str = "highest_confidence", center_offsets: torch.Tensor | None = None,
         stuff_area_threshold: int = InferenceConfig.stuff_area_threshold,
         unknown_undetected_things: bool = InferenceConfig.unknown_undetected_things) -> PanopticResult:
    """Fuse semantic logits and detections of one image into a PanopticResult (see module doc).

    semantic_logits: float [C, H, W] (any device, float32/float16/bfloat16); boxes: [N, 4] x1, y1, x2, y2 pixels;
    scores: [N]; labels: [N] thing channel index of each detection; thing_mask: bool [C];
    center_offsets: [2, H, W] (x, y) pixel -> box center, required by policy "closest_center".
    The result lives on semantic_logits' device. Bad input raises ValueError naming the argument.
    Defaults: stuff_area_threshold and unknown_undetected_things from InferenceConfig; policy
    "highest_confidence" (it needs no offsets) - the model and the node pass cfg.inference.merge_policy.
    """
    _check_threshold(stuff_area_threshold)
    owner = fuse_owner_map(semantic_logits, boxes, scores, labels, thing_mask=thing_mask, policy=policy,
                           center_offsets=center_offsets, unknown_undetected_things=unknown_undetected_things)
    return segments_of(owner, stuff_area_threshold)


def fuse_batch(semantic_logits: torch.Tensor, boxes: Sequence, scores: Sequence, labels: Sequence, *,
               thing_mask: torch.Tensor, policy: str = "highest_confidence", center_offsets: torch.Tensor | None = None,
               stuff_area_threshold: int = InferenceConfig.stuff_area_threshold,
               unknown_undetected_things: bool = InferenceConfig.unknown_undetected_things) -> list[PanopticResult]:
    """fuse() for B images: semantic_logits [B, C, H, W]; boxes, scores, labels: lists of B;
    center_offsets [B, 2, H, W]. Returns one PanopticResult per image."""
    logits = _as_tensor(semantic_logits, "semantic_logits")
    if logits.dim() != 4:
        raise ValueError(f"semantic_logits: expected shape [B, C, H, W], got {list(logits.shape)}")
    batch = logits.shape[0]
    for name, value in (("boxes", boxes), ("scores", scores), ("labels", labels)):
        if len(value) != batch:
            raise ValueError(f"{name}: expected one entry per image ({batch}), got {len(value)}")
    if center_offsets is not None:
        center_offsets = _as_tensor(center_offsets, "center_offsets")
        if center_offsets.dim() != 4 or center_offsets.shape[0] != batch:
            raise ValueError(f"center_offsets: expected shape [{batch}, 2, H, W], got {list(center_offsets.shape)}")
    return [fuse(logits[b], boxes[b], scores[b], labels[b], thing_mask=thing_mask, policy=policy,
                 center_offsets=None if center_offsets is None else center_offsets[b],
                 stuff_area_threshold=stuff_area_threshold, unknown_undetected_things=unknown_undetected_things)
            for b in range(batch)]
