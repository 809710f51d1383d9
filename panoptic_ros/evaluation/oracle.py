"""`panoptic eval --oracle`: each merge policy's ceiling on ground-truth inputs instead of the network's.

What every policy receives, built from the image's panoptic annotation at the image resolution:
- semantic logits: one-hot of the ground-truth class (x 10; void pixels all 0);
- detections: the ground-truth boxes and classes of the (non-crowd) thing instances, all with score 1 (ties go
  to the lower instance index, as for equal network scores);
- closest_center: the ground-truth center offsets;
- a mask-based policy: its own oracle_maps (panoptic/mask_policies/: e.g. dense_iou's box "predicted" at a pixel is
  its instance's ground-truth box, mask_heuristic's masks are the ground-truth instances RoI-aligned to 28x28).
The merge runs exactly as in the pipeline (pipeline.merge_image), so the difference to 100 PQ is what the
policy itself loses.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from ..data.categories import IGNORE_LABEL
from ..data.targets import encode_targets
from ..panoptic.policies import get_policy
from ..pipeline.mapping import MappedImage
from ..pipeline.pipeline import Detections, merge_image
from .prediction import ImagePrediction

ORACLE_LOGIT = 10.0


def oracle_prediction(gt_pan, gt_segments: list[dict], categories, policies: Sequence[str], inference):
    """An ImagePrediction of every policy on the image's ground-truth inputs."""

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
    """The ground-truth stand-in for the optional network output a mask-based policy reads (its oracle_maps:
    [N, H, W] or [H, W]); None for the box policies."""
    merge = get_policy(policy)
    return merge.oracle_maps(instance_map, boxes) if merge.builds_masks else None
