"""mask_heuristic (de Geus et al. 2018, after Kirillov et al.'s panoptic baseline): full-image instance masks (RoI
mask probability > inference.mask_threshold); advanced: overlaps by per-pixel mask probability x score, unclaimed
"thing" pixels take the best stuff class when its probability exceeds inference.mask_alpha, else unknown; baseline:
overlaps by score, unclaimed thing pixels unknown.

Per-detection maps: the RoI mask head (runtime.mask_logits on the pyramid "features") for the final detections,
each detection's own-class 28x28 probability pasted into the grid inside its box.
Oracle: the ground-truth instance masks RoI-aligned to 28x28 (what the mask head learns), pasted back.
"""
from __future__ import annotations

import torch

from ...modeling.extra_heads import mask_roi_targets
from ...registry import MERGE_POLICIES
from ..fuse import first_argmax
from ..mask_merge import compose, first_true, paste_masks, score_order, stuff_fallback
from ..policies import BatchOutputs, MaskMergePolicy


@MERGE_POLICIES.register()
class MaskHeuristic(MaskMergePolicy):
    """Joint semantic + instance networks (street scenes): RoI-head instance masks over semantics with the
    advanced (or baseline, inference.mask_heuristics) heuristics."""

    name = "mask_heuristic"
    required_head = "mask_head"
    optional_outputs = ("features",)

    def detection_maps(self, batch: BatchOutputs) -> list[torch.Tensor]:
        probs = roi_mask_probs(batch.runtime, batch.raw, batch.detections, batch.padded, batch.thing_channels)
        return [pasted_masks(p, m) for p, m in zip(probs, batch.mapped)]

    def owner_map(self, mapped, scores, labels, thing_mask, inference, maps):
        return mask_heuristic_owner(mapped.semantic, scores, maps, thing_mask, heuristics=inference.mask_heuristics,
                                    alpha=inference.mask_alpha, mask_threshold=inference.mask_threshold)

    def oracle_maps(self, instance_map, boxes):
        height, width = instance_map.shape
        masks = mask_roi_targets(instance_map, boxes, torch.arange(len(boxes)))
        return paste_masks(masks, boxes, height, width)


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


def pasted_masks(probs: torch.Tensor, mapped) -> torch.Tensor:
    """[N, gh, gw]: 28x28 mask probabilities pasted into the fuse grid inside each detection's (grid) box."""
    gh, gw = mapped.grid_size
    return paste_masks(probs, mapped.boxes, gh, gw)


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
        order = score_order(scores).to(device)
        ordered = value[order]
        first = first_argmax(ordered, best)                                    # ties: the higher score
        return compose(order[first], best >= 0, background, num_classes)
    order = score_order(scores).to(device)
    first, has = first_true(inside[order])
    return compose(order[first], has, background, num_classes)
