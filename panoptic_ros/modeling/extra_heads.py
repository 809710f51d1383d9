"""Optional heads that only some merge policies need (issue 8), with their training targets and losses.

- LevelnessHead (``model.levelness``, for dense_iou): one 3x3 conv on the box-tower features of all detection
  levels, upsampled to the first level (stride 8) and concatenated; predicts per location which level's box the
  pixel uses (1 + level) or 0 = background. Target: the FCOS size-of-interest level of the instance under the
  location (max(l, t, r, b) to its box in the level's range), 0 off instances, ignored on void pixels.
- border-ness (``model.borderness`` / ``model.quality=borderness``, for paste_borderness): a 3x3 conv on the box
  tower like centerness; target sqrt(min(l,r)/max(l,r) * min(t,b)/max(t,b)) with l, t, r, b measured from the
  location to the borders of the instance MASK along its row and column (mask_border_distances), BCE on positives.
- MaskHead (``model.mask_head``, for mask_heuristic): torchvision MultiScaleRoIAlign (14x14) on the pyramid for
  the given boxes, a small FCN and a 2x up-convolution to per-class 28x28 mask logits (Mask R-CNN). Trained on
  the ground-truth boxes (and jittered copies) with BCE against the instance masks RoI-aligned to 28x28.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import MultiScaleRoIAlign, roi_align

from ..data.categories import IGNORE_LABEL
from . import detection_head as det

MASK_SIZE = 28
ROI_SIZE = 14
MAX_TRAIN_ROIS = 64  # per batch: bounds the mask head's training cost on crowded images


class LevelnessHead(nn.Module):
    """forward(box-tower features per level) -> [B, 1 + levels, h0, w0] logits at the first level's grid."""

    def __init__(self, channels: int, num_levels: int = len(det.DETECTION_LEVELS)):
        super().__init__()
        self.num_levels = num_levels
        self.conv = nn.Conv2d(channels * num_levels, num_levels + 1, 3, padding=1)
        nn.init.normal_(self.conv.weight, std=0.01)
        nn.init.zeros_(self.conv.bias)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        size = features[0].shape[-2:]
        up = [features[0]] + [F.interpolate(f, size=size, mode="nearest") for f in features[1:]]
        return self.conv(torch.cat(up, dim=1))


class MaskHead(nn.Module):
    """forward(pyramid levels, boxes per image [Ni, 4] input px, image size (H, W)) -> [sum Ni, K, 28, 28] logits."""

    def __init__(self, channels: int, num_classes: int, level_names: tuple[str, ...], num_convs: int = 2):
        super().__init__()
        self.level_names = tuple(level_names)
        self.pooler = MultiScaleRoIAlign(featmap_names=list(self.level_names), output_size=ROI_SIZE, sampling_ratio=2)
        layers: list[nn.Module] = []
        for _ in range(num_convs):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU()]
        self.fcn = nn.Sequential(*layers)
        self.up = nn.ConvTranspose2d(channels, channels, 2, stride=2)
        self.logits = nn.Conv2d(channels, num_classes, 1)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, features: list[torch.Tensor], boxes: list[torch.Tensor],
                image_size: tuple[int, int]) -> torch.Tensor:
        """features: the pyramid levels level_names (list, in order); boxes: per image [Ni, 4] input px."""
        feats = dict(zip(self.level_names, features))
        dtype = feats[self.level_names[0]].dtype
        rois = self.pooler(feats, [b.to(dtype) for b in boxes], [tuple(image_size)] * len(boxes))
        return self.logits(F.relu(self.up(self.fcn(rois))))


# ------------------------------------------------------------------------------------------- targets
def levelness_targets(points: torch.Tensor, instance_map: torch.Tensor, semantic: torch.Tensor,
                      boxes: torch.Tensor, ranges: torch.Tensor) -> torch.Tensor:
    """int64 [P]: 1 + the FCOS level of the instance under each point [P, 2] (0 = no instance, IGNORE_LABEL on
    void pixels). instance_map / semantic: [H, W] (index into boxes or -1 / class or IGNORE_LABEL);
    ranges: [levels, 2] sizes of interest."""
    h, w = instance_map.shape
    x = points[:, 0].floor().long().clamp(0, w - 1)
    y = points[:, 1].floor().long().clamp(0, h - 1)
    inst = instance_map[y, x]
    out = torch.zeros(len(points), dtype=torch.int64, device=points.device)
    on = inst >= 0
    if on.any():
        box = boxes[inst[on]]
        p = points[on]
        ltrb = torch.stack([p[:, 0] - box[:, 0], p[:, 1] - box[:, 1], box[:, 2] - p[:, 0], box[:, 3] - p[:, 1]], 1)
        side = ltrb.max(1).values
        level = ((side[:, None] > ranges[None, :, 0]) & (side[:, None] <= ranges[None, :, 1])).float().argmax(1)
        out[on] = level + 1
    out[semantic[y, x] == IGNORE_LABEL] = IGNORE_LABEL
    return out


def mask_border_distances(instance_map: torch.Tensor) -> torch.Tensor:
    """float32 [4, H, W]: distances (l, t, r, b) in pixels from each pixel's center to the borders of the run of
    same-instance pixels along its row (l, r) and column (t, b). Pixel edges: a run from column a to b (inclusive)
    gives l = x + 0.5 - a and r = b + 1 - (x + 0.5)."""
    def runs(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # along the last dim
        n = ids.shape[-1]
        pos = torch.arange(n, device=ids.device).expand_as(ids)
        new = torch.ones_like(ids, dtype=torch.bool)
        new[..., 1:] = ids[..., 1:] != ids[..., :-1]
        start = torch.where(new, pos, torch.zeros_like(pos)).cummax(-1).values
        end_flag = torch.ones_like(new)
        end_flag[..., :-1] = new[..., 1:]
        end = torch.where(end_flag, pos, torch.full_like(pos, n)).flip(-1).cummin(-1).values.flip(-1)
        centre = pos.float() + 0.5
        return centre - start.float(), end.float() + 1 - centre

    left, right = runs(instance_map)
    top, bottom = runs(instance_map.t())
    return torch.stack([left, top.t(), right, bottom.t()])


def borderness_targets(points: torch.Tensor, matched: torch.Tensor, instance_map: torch.Tensor,
                       distances: torch.Tensor) -> torch.Tensor:
    """float32 [P]: the mask border-ness at each point whose pixel belongs to its matched instance (else 0).
    matched [P]: box / instance index or -1 (fcos_targets); distances: mask_border_distances(instance_map)."""
    h, w = instance_map.shape
    x = points[:, 0].floor().long().clamp(0, w - 1)
    y = points[:, 1].floor().long().clamp(0, h - 1)
    on = (matched >= 0) & (instance_map[y, x] == matched)
    ltrb = distances[:, y, x].t()
    return torch.where(on, det.centerness_targets(ltrb), torch.zeros_like(ltrb[:, 0]))


def mask_roi_targets(instance_map: torch.Tensor, boxes: torch.Tensor, instance: torch.Tensor) -> torch.Tensor:
    """float32 [R, 28, 28]: instance ``instance[r]``'s mask RoI-aligned into boxes [R, 4] (input px)."""
    if len(boxes) == 0:
        return torch.zeros(0, MASK_SIZE, MASK_SIZE, device=boxes.device)
    masks = (instance_map[None] == instance.view(-1, 1, 1)).float()          # [R, H, W]
    rois = torch.cat([torch.arange(len(boxes), device=boxes.device, dtype=boxes.dtype)[:, None], boxes], 1)
    return roi_align(masks[:, None], rois, MASK_SIZE, 1.0, sampling_ratio=2, aligned=True)[:, 0]


def jitter_boxes(boxes: torch.Tensor, size: tuple[int, int], generator: torch.Generator | None = None,
                 amount: float = 0.1) -> torch.Tensor:
    """Boxes moved and rescaled by up to ``amount`` of their size (training RoIs like imperfect detections)."""
    wh = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2)
    noise = (torch.rand(boxes.shape, generator=generator) * 2 - 1).to(boxes.device)
    out = boxes + noise * amount * wh
    out[:, 0::2] = out[:, 0::2].clamp(0, size[1])
    out[:, 1::2] = out[:, 1::2].clamp(0, size[0])
    ok = (out[:, 2] - out[:, 0] > 1) & (out[:, 3] - out[:, 1] > 1)
    return torch.where(ok[:, None], out, boxes)


# ------------------------------------------------------------------------------------------- losses
def levelness_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of [B, 1 + levels, h, w] logits vs int64 [B, h, w] targets (IGNORE_LABEL ignored)."""
    total = F.cross_entropy(logits.float(), target, ignore_index=IGNORE_LABEL, reduction="sum")
    return total / (target != IGNORE_LABEL).sum().clamp(min=1)


def borderness_loss(logits: torch.Tensor, target: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """BCE-with-logits of border-ness logits [B, L] vs targets [B, L] on the positive locations (mean)."""
    if not positive.any():
        return logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logits.float()[positive], target[positive], reduction="mean")


def mask_loss(logits: torch.Tensor, classes: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean per-pixel BCE of each RoI's own-class mask logits [R, K, 28, 28] vs targets [R, 28, 28]."""
    if len(target) == 0:
        return logits.sum() * 0.0
    own = logits[torch.arange(len(classes), device=logits.device), classes]
    return F.binary_cross_entropy_with_logits(own.float(), target, reduction="mean")
