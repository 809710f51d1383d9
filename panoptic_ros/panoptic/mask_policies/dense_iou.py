"""dense_iou (Hou et al., CVPR 2020): mask_n = IoU(box predicted at the pixel, box_n) x P(class_n | pixel) >
inference.dense_iou_sigma; a pixel goes to the highest-scoring detection whose mask holds it (pixels outside the box
can join); the rest takes stuff from the semantics (unknown where the semantic argmax is a thing class).

Per-detection maps: P_loc(x, y, n) = IoU(box predicted at the pixel, detection n). The dense box of a pixel is each
level's (l, t, r, b) regression resampled bilinearly to the pixel and decoded at its center; with the levelness
head (and inference.dense_iou_levelness) the level it picks (0 = background: no box), else the max IoU over levels.
Oracle: the box "predicted" at a pixel is its instance's ground-truth box (none off instances).
"""
from __future__ import annotations

import torch

from ...config import InferenceConfig
from ...modeling import detection_head as det
from ...registry import MERGE_POLICIES
from ..mask_merge import box_iou_map, compose, first_true, resample_to_grid, sample_at, score_order, stuff_fallback
from ..policies import BatchOutputs, MaskMergePolicy


@MERGE_POLICIES.register()
class DenseIoU(MaskMergePolicy):
    """Real-time panoptic segmentation from dense detections: mask = IoU(box predicted at the pixel, detection) x
    P(class) > inference.dense_iou_sigma; the levelness head picks the pixel's level (else max over levels)."""

    name = "dense_iou"
    optional_outputs = ("levelness",)

    def requested_outputs(self, inference: InferenceConfig) -> tuple[str, ...]:
        return self.optional_outputs if inference.dense_iou_levelness else ()

    def detection_maps(self, batch: BatchOutputs) -> list[torch.Tensor]:
        return [dense_location_prob(batch.raw, i, d.boxes, m, batch.inference.dense_iou_levelness)
                for i, (d, m) in enumerate(zip(batch.detections, batch.mapped))]

    def owner_map(self, mapped, scores, labels, thing_mask, inference, maps):
        return dense_iou_owner(mapped.semantic, scores, labels, maps, thing_mask, sigma=inference.dense_iou_sigma)

    def oracle_maps(self, instance_map, boxes):
        height, width = instance_map.shape
        on = instance_map >= 0
        dense = torch.zeros((4, height, width))
        if len(boxes):
            dense[:, on] = boxes[instance_map[on]].t()
        return box_iou_map(dense, boxes) * on[None]


def dense_location_prob(raw: dict, index: int, boxes: torch.Tensor, mapped,
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
    order = score_order(scores).to(logits.device)
    prob = torch.softmax(logits.float(), dim=0).index_select(0, labels.to(logits.device)[order])
    masks = (location_prob.to(prob.device).float()[order] * prob) > sigma
    first, has = first_true(masks)
    return compose(order[first], has, background, num_classes)
