"""paste_borderness (a lightweight one-stage panoptic network): a detection's mask = its box's pixels of its class
(semantic argmax); in descending score a mask sharing more than inference.paste_overlap of its area with kept masks
is dropped; pixels several kept masks share go to the detection whose geometric border-ness (of its box) at the
pixel is closest to the predicted border-ness; the rest as dense_iou.

Per-detection maps: the border-ness each detection's pyramid level predicts at every pixel (sigmoid, resampled).
Oracle: the ground-truth mask border-ness (the head's training target).
"""
from __future__ import annotations

import torch

from ...modeling import detection_head as det
from ...modeling.extra_heads import mask_border_distances
from ...registry import MERGE_POLICIES
from ..fuse import first_argmax
from ..mask_merge import box_masks, compose, geometric_borderness, resample_to_grid, score_order, stuff_fallback
from ..policies import BatchOutputs, MaskMergePolicy


@MERGE_POLICIES.register()
class PasteBorderness(MaskMergePolicy):
    """Lightweight one-stage panoptic network: paste box x class masks by score, drop a mask overlapping more
    than inference.paste_overlap of its area, contested pixels to the closest predicted border-ness."""

    name = "paste_borderness"
    required_head = "borderness"
    optional_outputs = ("borderness",)

    def detection_maps(self, batch: BatchOutputs) -> list[torch.Tensor]:
        return [predicted_borderness(batch.raw, i, d.levels, m)
                for i, (d, m) in enumerate(zip(batch.detections, batch.mapped))]

    def owner_map(self, mapped, scores, labels, thing_mask, inference, maps):
        return paste_borderness_owner(mapped.semantic, mapped.boxes, scores, labels, maps, thing_mask,
                                      overlap=inference.paste_overlap)

    def oracle_maps(self, instance_map, boxes):
        height, width = instance_map.shape
        ltrb = mask_border_distances(instance_map).permute(1, 2, 0)
        return det.centerness_targets(ltrb.reshape(-1, 4)).view(height, width) * (instance_map >= 0)


def predicted_borderness(raw: dict, index: int, levels: torch.Tensor, mapped) -> torch.Tensor:
    """[N, gh, gw]: sigmoid of the border-ness output of each detection's pyramid level, on the fuse grid."""
    maps = [level[index] for level in raw["borderness"]]
    gh, gw = mapped.grid_size
    out = torch.zeros((len(levels), gh, gw), device=maps[0].device)
    for level in levels.unique().tolist():
        which = torch.nonzero(levels.to(out.device) == level).flatten()
        out[which] = torch.sigmoid(resample_to_grid(maps[level], det.DETECTION_STRIDES[level], mapped))
    return out


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
    order = score_order(scores).to(device)
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
    return compose(order[kept_t[first]], torch.isfinite(best), background, num_classes)
