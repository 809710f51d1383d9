"""The training losses of the three branches (unweighted; PanopticModel applies lambda_o/s/i).

- detection: sigmoid focal loss over thing classes (normalised by the number of positives), GIoU box loss
  weighted by the centerness targets (as FCOS), BCE-with-logits centerness on positives;
- semantic: cross-entropy over all classes, 255 = ignore;
- instance center: L1 on the (x, y) offsets of thing pixels (offset_weight).
Each returns a zero that still has a graph when there is nothing to learn from, so a batch without
things (or fully ignored) trains the other parts instead of giving NaN.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.ops import generalized_box_iou_loss, sigmoid_focal_loss

from ..data.categories import IGNORE_LABEL
from .detection_head import decode_boxes


def detection_losses(cls_logits: torch.Tensor, box_regression: torch.Tensor, centerness: torch.Tensor,
                     points: torch.Tensor, targets: list[dict[str, torch.Tensor]], *, alpha: float = 0.25,
                     gamma: float = 2.0) -> dict[str, torch.Tensor]:
    """cls_logits [B, L, K], box_regression [B, L, 4] (l, t, r, b px), centerness [B, L] (logits),
    points [L, 2]; targets: fcos_targets() output per image. -> loss_cls, loss_box, loss_ctr."""
    labels = torch.stack([t["labels"] for t in targets])                  # [B, L]
    gt_boxes = torch.stack([t["boxes"] for t in targets])                 # [B, L, 4]
    gt_ctr = torch.stack([t["centerness"] for t in targets])              # [B, L]
    cls_logits, box_regression, centerness = cls_logits.float(), box_regression.float(), centerness.float()

    valid = labels != -2
    positive = labels >= 0
    num_pos = max(int(positive.sum().item()), 1)

    onehot = torch.zeros_like(cls_logits)
    onehot[positive, labels[positive]] = 1.0
    loss_cls = sigmoid_focal_loss(cls_logits[valid], onehot[valid], alpha=alpha, gamma=gamma,
                                  reduction="sum") / num_pos

    if positive.any():
        pred = decode_boxes(points.expand_as(box_regression[..., :2])[positive], box_regression[positive])
        weight = gt_ctr[positive]
        giou = generalized_box_iou_loss(pred, gt_boxes[positive], reduction="none")
        loss_box = (giou * weight).sum() / weight.sum().clamp(min=1e-6)
        loss_ctr = F.binary_cross_entropy_with_logits(centerness[positive], weight, reduction="sum") / num_pos
    else:
        loss_box = box_regression.sum() * 0.0
        loss_ctr = centerness.sum() * 0.0
    return {"loss_cls": loss_cls, "loss_box": loss_box, "loss_ctr": loss_ctr}


def semantic_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the non-ignored pixels of logits [B, C, H, W] vs target [B, H, W]."""
    logits = logits.float()
    total = F.cross_entropy(logits, target, ignore_index=IGNORE_LABEL, reduction="sum")
    count = (target != IGNORE_LABEL).sum().clamp(min=1)
    return total / count


def offset_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean over weighted pixels of |dx| + |dy|: pred/target [B, 2, H, W] px, weight [B, H, W]."""
    diff = (pred.float() - target).abs().sum(dim=1)
    return (diff * weight).sum() / weight.sum().clamp(min=1.0)
