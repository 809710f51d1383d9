"""Detection branch: a dense single-shot FCOS detector shared over p3..p7.

Three parts, each testable alone:
- FCOSHead: GroupNorm conv towers shared over levels; per location class logits (thing classes only),
  l/t/r/b distances in input pixels (ReLU, a learnable Scale per level, times the level stride) and centerness.
- fcos_targets(): FCOS target assignment for one image (inside box, center sampling, size of interest
  per level, smallest box wins, ignore regions).
- postprocess_detections(): score = sqrt(sigmoid(cls) * sigmoid(ctr)), threshold, top-k per level, decode,
  clip, class-wise NMS (torchvision batched_nms), keep the best max_detections.

Coordinates: xyxy with pixel-edge coordinates; the location of feature cell (i, j) at stride s is the
input point (j*s + s/2, i*s + s/2), the center of the input pixels the cell covers.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import batched_nms, clip_boxes_to_image, remove_small_boxes

from .semantic_head import group_norm

DETECTION_LEVELS = ("p3", "p4", "p5", "p6", "p7")
DETECTION_STRIDES = (8, 16, 32, 64, 128)
# Object size (max of l, t, r, b in input pixels) each level is responsible for, as FCOS.
SIZES_OF_INTEREST = ((0.0, 64.0), (64.0, 128.0), (128.0, 256.0), (256.0, 512.0), (512.0, math.inf))
CENTER_SAMPLING_RADIUS = 1.5  # in strides, as FCOS (and torchvision's FCOS)

BACKGROUND = -1
IGNORED_LOCATION = -2   # FCOS target of a location in a void / crowd region: no classification loss


class Scale(nn.Module):
    """A learnable scalar: lets each pyramid level rescale the shared regression output."""

    def __init__(self, init: float = 1.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class FCOSHead(nn.Module):
    """forward(list of p3..p7 [B, C, H, W]) -> (cls_logits, box_regression, centerness), lists per level.

    cls_logits [B, K, H, W] over the K thing classes; box_regression [B, 4, H, W] = (l, t, r, b) distances
    in input pixels from the location to the box sides; centerness [B, 1, H, W] logits.
    """

    def __init__(self, in_channels: int, num_classes: int, num_convs: int = 4,
                 strides: tuple[int, ...] = DETECTION_STRIDES, prior_probability: float = 0.01,
                 anchor_point: str = "center"):
        super().__init__()
        if anchor_point not in ("center", "corner"):
            raise ValueError(f"anchor_point must be center or corner, got {anchor_point!r}")
        # corner: the weights measure distances from the cell corner (j*s, i*s), as torchvision's FCOS; the output
        # is re-measured from the cell centre every decoder uses (model.anchor_point, panoptic convert)
        self.anchor_point = anchor_point
        if num_classes < 1:
            raise ValueError("the detection branch needs at least one thing category (isthing=1)")
        self.num_classes = num_classes
        self.strides = tuple(strides)

        def tower() -> nn.Sequential:
            layers = []
            for _ in range(num_convs):
                layers += [nn.Conv2d(in_channels, in_channels, 3, padding=1), group_norm(in_channels), nn.ReLU()]
            return nn.Sequential(*layers)

        self.cls_tower = tower()
        self.box_tower = tower()
        self.cls_logits = nn.Conv2d(in_channels, num_classes, 3, padding=1)
        self.bbox_reg = nn.Conv2d(in_channels, 4, 3, padding=1)
        self.centerness = nn.Conv2d(in_channels, 1, 3, padding=1)
        self.scales = nn.ModuleList(Scale(1.0) for _ in self.strides)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
        # Focal-loss prior: start with every location predicting background with probability 0.99.
        nn.init.constant_(self.cls_logits.bias, -math.log((1 - prior_probability) / prior_probability))

    def forward(self, features: list[torch.Tensor]):
        cls_logits, box_regression, centerness, _ = self.forward_with_box_features(features)
        return cls_logits, box_regression, centerness

    def forward_with_box_features(self, features: list[torch.Tensor]):
        """forward() plus the box-tower features per level (the optional levelness / border-ness heads read them)."""
        if len(features) != len(self.strides):
            raise ValueError(f"FCOSHead expects {len(self.strides)} pyramid levels, got {len(features)}")
        cls_logits, box_regression, centerness, box_features = [], [], [], []
        for x, stride, scale in zip(features, self.strides, self.scales):
            c = self.cls_tower(x)
            b = self.box_tower(x)
            cls_logits.append(self.cls_logits(c))
            ltrb = F.relu(scale(self.bbox_reg(b))) * stride
            if self.anchor_point == "corner":
                ltrb = ltrb + ltrb.new_tensor([stride / 2, stride / 2, -stride / 2, -stride / 2]).view(1, 4, 1, 1)
            box_regression.append(ltrb)
            centerness.append(self.centerness(b))
            box_features.append(b)
        return cls_logits, box_regression, centerness, box_features


# ----------------------------------------------------------------------------------------- locations
def compute_locations(shapes: list[tuple[int, int]], strides: tuple[int, ...] = DETECTION_STRIDES,
                      device: torch.device | str = "cpu") -> list[torch.Tensor]:
    """Input-pixel (x, y) of every cell of each level, row-major: list of [H*W, 2] float32."""
    out = []
    for (h, w), s in zip(shapes, strides):
        ys = torch.arange(h, dtype=torch.float32, device=device) * s + s / 2
        xs = torch.arange(w, dtype=torch.float32, device=device) * s + s / 2
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        out.append(torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1))
    return out


def level_tensors(locations: list[torch.Tensor], strides: tuple[int, ...] = DETECTION_STRIDES,
                  sizes_of_interest=SIZES_OF_INTEREST) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Concatenate per-level locations; also return each location's stride [L] and size range [L, 2]."""
    device = locations[0].device
    points = torch.cat(locations)
    stride = torch.cat([torch.full((len(p),), float(s), device=device) for p, s in zip(locations, strides)])
    ranges = torch.cat([torch.tensor(r, dtype=torch.float32, device=device).expand(len(p), 2)
                        for p, r in zip(locations, sizes_of_interest)])
    return points, stride, ranges


def flatten_levels(maps: list[torch.Tensor]) -> torch.Tensor:
    """[B, K, H, W] per level -> [B, sum(H*W), K] (row-major, matching compute_locations)."""
    return torch.cat([m.flatten(2).transpose(1, 2) for m in maps], dim=1)


# ----------------------------------------------------------------------------------------- targets
def ltrb_targets(points: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Distances (l, t, r, b) from every point [L, 2] to every box [N, 4] -> [L, N, 4]."""
    x, y = points[:, 0, None], points[:, 1, None]
    return torch.stack([x - boxes[None, :, 0], y - boxes[None, :, 1],
                        boxes[None, :, 2] - x, boxes[None, :, 3] - y], dim=2)


def centerness_targets(ltrb: torch.Tensor) -> torch.Tensor:
    """FCOS centerness sqrt(min(l,r)/max(l,r) * min(t,b)/max(t,b)) of [..., 4] distances (0 outside)."""
    lr, tb = ltrb[..., [0, 2]].clamp(min=0), ltrb[..., [1, 3]].clamp(min=0)
    ratio = (lr.min(-1).values / lr.max(-1).values.clamp(min=1e-6)) * \
            (tb.min(-1).values / tb.max(-1).values.clamp(min=1e-6))
    return ratio.sqrt()


def fcos_targets(points: torch.Tensor, strides: torch.Tensor, ranges: torch.Tensor, boxes: torch.Tensor,
                 labels: torch.Tensor, *, ignore: torch.Tensor | None = None,
                 center_sampling_radius: float = CENTER_SAMPLING_RADIUS) -> dict[str, torch.Tensor]:
    """FCOS target assignment for one image.

    points [L, 2], strides [L], ranges [L, 2] (from level_tensors); boxes [N, 4] xyxy; labels [N] detection
    class; ignore [L] bool (e.g. crowd / void pixels): unassigned locations there are excluded from the
    classification loss instead of counting as background.
    A location is positive for a box when it lies strictly inside the box, within center_sampling_radius
    strides of the box center, and max(l, t, r, b) is in its level's range (lower, upper]; with several
    such boxes the smallest (area) wins.
    Returns labels [L] (class, BACKGROUND=-1 or IGNORED_LOCATION=-2), matched [L] (box index or -1),
    boxes [L, 4] (matched box; zeros if none), ltrb [L, 4] and centerness [L] (0 where not positive).
    """
    num = points.shape[0]
    device = points.device
    out_labels = torch.full((num,), BACKGROUND, dtype=torch.int64, device=device)
    matched = torch.full((num,), -1, dtype=torch.int64, device=device)
    if boxes.numel() == 0:
        if ignore is not None:
            out_labels[ignore] = IGNORED_LOCATION
        zeros4 = torch.zeros(num, 4, device=device)
        return {"labels": out_labels, "matched": matched, "boxes": zeros4, "ltrb": zeros4.clone(),
                "centerness": torch.zeros(num, device=device)}
    boxes = boxes.to(points)
    ltrb = ltrb_targets(points, boxes)                                             # [L, N, 4]
    inside = ltrb.min(dim=2).values > 0
    centers = (boxes[:, :2] + boxes[:, 2:]) / 2
    radius = center_sampling_radius * strides[:, None]
    near_center = (points[:, None, :] - centers[None]).abs().max(dim=2).values < radius
    max_side = ltrb.max(dim=2).values
    in_range = (max_side > ranges[:, 0, None]) & (max_side <= ranges[:, 1, None])
    candidate = inside & near_center & in_range                                   # [L, N]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    cost = torch.where(candidate, areas[None].expand_as(candidate), torch.full_like(ltrb[..., 0], math.inf))
    best_cost, best = cost.min(dim=1)
    positive = torch.isfinite(best_cost)
    matched[positive] = best[positive]
    out_labels[positive] = labels.to(device)[best[positive]]
    if ignore is not None:
        out_labels[ignore & ~positive] = IGNORED_LOCATION
    idx = best.clamp(min=0)
    sel_ltrb = ltrb[torch.arange(num, device=device), idx]
    sel_ltrb = torch.where(positive[:, None], sel_ltrb, torch.zeros_like(sel_ltrb))
    sel_boxes = torch.where(positive[:, None], boxes[idx], torch.zeros_like(sel_ltrb))
    return {"labels": out_labels, "matched": matched, "boxes": sel_boxes, "ltrb": sel_ltrb,
            "centerness": torch.where(positive, centerness_targets(sel_ltrb), torch.zeros(num, device=device))}


# ----------------------------------------------------------------------------------------- inference
def decode_boxes(points: torch.Tensor, ltrb: torch.Tensor) -> torch.Tensor:
    """(x - l, y - t, x + r, y + b) for points [..., 2] and distances [..., 4]."""
    return torch.cat([points - ltrb[..., :2], points + ltrb[..., 2:]], dim=-1)


def postprocess_detections(cls_logits: list[torch.Tensor], box_regression: list[torch.Tensor],
                           centerness: list[torch.Tensor], image_sizes: list[tuple[int, int]], *,
                           score_threshold: float, nms_threshold: float, pre_nms_top_k: int,
                           max_detections: int, strides: tuple[int, ...] = DETECTION_STRIDES
                           ) -> list[dict[str, torch.Tensor]]:
    """Raw head outputs (per level, batched) -> per image {"boxes" [N,4], "scores" [N], "labels" [N] class,
    "levels" [N] pyramid level index}. ``centerness``: the quality output multiplied into the score (the
    centerness or, with model.quality=borderness, the border-ness logits).

    Boxes are in network-input pixels, clipped to each image's (h, w) in image_sizes.
    """
    shapes = [tuple(m.shape[-2:]) for m in cls_logits]
    locations = compute_locations(shapes, strides, cls_logits[0].device)
    points = torch.cat(locations)                                                   # [L, 2], level by level
    level_of = torch.cat([torch.full((len(p),), n, device=points.device) for n, p in enumerate(locations)])
    cls_all, box_all = flatten_levels(cls_logits), flatten_levels(box_regression)    # [B, L, K], [B, L, 4]
    ctr_all = flatten_levels(centerness)[..., 0]                                    # [B, L]
    low = min(1.0, score_threshold * score_threshold) * (1 - 1e-3)   # a margin below t^2 for float rounding
    bound = -math.inf if low <= 0 else (math.inf if low >= 1 else math.log(low / (1 - low)))
    results = []
    for i, size in enumerate(image_sizes):
        # score > t needs sigmoid(cls) > t^2 (centerness <= 1): one comparison over all levels and classes, the
        # score only for those candidates (same result as scoring everything, several times less work)
        loc, klass = torch.nonzero(cls_all[i] > bound, as_tuple=True)             # level, location, class order
        scores = torch.sqrt(torch.sigmoid(cls_all[i, loc, klass].float()) * torch.sigmoid(ctr_all[i, loc].float()))
        passed = scores > score_threshold
        scores, loc, klass = scores[passed], loc[passed], klass[passed]
        counts = torch.bincount(level_of[loc], minlength=len(locations))
        if bool((counts > pre_nms_top_k).any()):  # at most pre_nms_top_k per level, best first, as FCOS
            parts = []
            for level, count in enumerate(counts.tolist()):
                idx = torch.nonzero(level_of[loc] == level).squeeze(1)
                if count > pre_nms_top_k:
                    idx = idx[scores[idx].topk(pre_nms_top_k).indices]
                parts.append(idx)
            order = torch.cat(parts)
            scores, loc, klass = scores[order], loc[order], klass[order]
        boxes = clip_boxes_to_image(decode_boxes(points[loc], box_all[i, loc].float()), size)
        valid = remove_small_boxes(boxes, 1e-3)
        boxes, scores, labels, levels = boxes[valid], scores[valid], klass[valid], level_of[loc][valid]
        keep = batched_nms(boxes, scores, labels, nms_threshold)[:max_detections]
        results.append({"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep],
                        "levels": levels[keep].long()})
    return results
