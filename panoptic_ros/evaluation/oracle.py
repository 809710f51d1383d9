"""`panoptic eval --oracle`: each merge policy's ceiling on ground-truth inputs instead of the network's.

What every policy receives, built from the image's panoptic annotation at the image resolution:
- semantic logits: one-hot of the ground-truth class (x 10; void pixels all 0);
- detections: the ground-truth boxes and classes of the (non-crowd) thing instances, all with score 1 (ties go
  to the lower instance index, as for equal network scores);
- closest_center: the ground-truth center offsets;
- dense_iou: the box "predicted" at a pixel = its instance's ground-truth box (none off instances);
- paste_borderness: the predicted border-ness = the ground-truth mask border-ness (the head's training target);
- mask_heuristic: the ground-truth instance masks RoI-aligned to 28x28 (what the mask head learns), pasted back.
The merge runs exactly as in the pipeline (pipeline.merge_image), so the difference to 100 PQ is what the
policy itself loses.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from ..data.categories import IGNORE_LABEL
from ..data.targets import encode_targets
from ..modeling import detection_head as det
from ..modeling.extra_heads import mask_border_distances, mask_roi_targets
from ..panoptic.mask_merge import box_iou_map, paste_masks
from ..panoptic.policies import get_policy

ORACLE_LOGIT = 10.0


def oracle_prediction(gt_pan, gt_segments: list[dict], categories, policies: Sequence[str], inference):
    """An ImagePrediction (engine.dataset_eval) of every policy on the image's ground-truth inputs."""
    from ..engine.dataset_eval import ImagePrediction
    from ..pipeline.mapping import MappedImage
    from ..pipeline.pipeline import Detections, merge_image

    t = encode_targets(gt_pan, gt_segments, categories)
    semantic, instance_map, boxes = t["semantic"], t["instance_map"], t["boxes"]
    height, width = semantic.shape
    num_classes = len(categories)
    valid = semantic != IGNORE_LABEL
    logits = torch.zeros((num_classes, height, width))
    logits.scatter_(0, semantic.clamp(max=num_classes - 1)[None], ORACLE_LOGIT)
    logits *= valid[None]
    scores = torch.ones(len(boxes))
    detections = Detections(boxes, scores, t["labels"])
    mapped = MappedImage(logits, t["center_offsets"], boxes.clone(), (1.0, 1.0), (height, width), (height, width))
    thing_mask = categories.thing_mask
    results, seconds = {}, {}
    for policy in policies:
        start = time.perf_counter()
        results[policy] = merge_image(mapped, detections, policy, inference, thing_mask,
                                      oracle_maps(policy, instance_map, boxes))
        seconds[policy] = time.perf_counter() - start
    pred_semantic = torch.where(valid, semantic, torch.zeros_like(semantic))
    return ImagePrediction(results=results, semantic=pred_semantic, boxes=boxes, scores=scores, labels=t["labels"],
                           fuse_s=seconds)


def oracle_maps(policy: str, instance_map: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor | None:
    """The ground-truth stand-in for the optional network output a mask-based policy reads ([N, H, W] or [H, W])."""
    merge = get_policy(policy)
    if not merge.builds_masks:
        return None
    height, width = instance_map.shape
    on = instance_map >= 0
    if merge.name == "dense_iou":
        dense = torch.zeros((4, height, width))
        if len(boxes):
            dense[:, on] = boxes[instance_map[on]].t()
        return box_iou_map(dense, boxes) * on[None]
    if merge.name == "paste_borderness":
        ltrb = mask_border_distances(instance_map).permute(1, 2, 0)
        return det.centerness_targets(ltrb.reshape(-1, 4)).view(height, width) * on
    if merge.name == "mask_heuristic":
        masks = mask_roi_targets(instance_map, boxes, torch.arange(len(boxes)))
        return paste_masks(masks, boxes, height, width)
    raise ValueError(f"no oracle inputs for merge policy {policy!r}")
