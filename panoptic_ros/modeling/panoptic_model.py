"""PanopticModel: encoder + FPN + semantic / detection / instance-center branches, losses and predict().

Two network layouts (cfg.model.layout), same raw outputs and losses:
- research: FPN p2..p7, separate multi-scale semantic and center branches at stride 4 (the paper's design;
  checkpoints without the field load as this, unchanged).
- fast: FPN p3..p7 exactly as torchvision FCOS, one shared light semantic/center decoder at stride 8
  (shared_decoder.py). The branch outputs are then at stride 8; consumers derive the stride from the shapes.

Optional heads (extra_heads.py; model.levelness / borderness / quality / mask_head) serve the merge policies
dense_iou, paste_borderness and mask_heuristic; forward_raw computes their outputs only when asked.
model.freeze keeps parts fixed; model.init_weights (a checkpoint to start from, how the shipped model got its
heads) is loaded by build_model (modeling/build.py), not by the constructor.

The model is the network and its losses: forward(images, targets) -> dict of losses (training); forward_raw(batch)
-> the network's dense outputs (what runtimes export). Inference goes through the pipeline layer:
panoptic_ros.pipeline.build_pipeline(model).predict(images).
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import PanopticConfig
from ..data.categories import IGNORE_LABEL, CategoryMap
from . import detection_head as det
from . import extra_heads as extra
from . import preprocess as pre
from .backbone import build_backbone
from .center_head import CenterHead
from .fold import folded_for_inference
from .fpn import FPN
from .losses import detection_losses, offset_loss, semantic_loss
from .semantic_head import SemanticHead
from .shared_decoder import SharedDecoder

TARGET_KEYS = ("semantic", "boxes", "labels", "center_offsets", "offset_weight")
# Outputs of the optional heads (issue 8): forward_raw computes them only when asked (or, for export, all the
# model has; "features" = the pyramid levels the RoI mask head pools from, asked for by mask_heuristic only).
OPTIONAL_OUTPUTS = ("levelness", "borderness", "features")
FREEZABLE = ("backbone", "fpn", "detection_head", "semantic_head", "center_head", "decoder")


class PanopticModel(nn.Module):
    """Single-shot panoptic network (see module docstring). Build with build_model(cfg, categories)."""

    def __init__(self, cfg: PanopticConfig, categories: CategoryMap, *, from_checkpoint: bool = False):
        """from_checkpoint: weights come from a checkpoint next, so no ImageNet weights are loaded."""
        super().__init__()
        self.cfg = copy.deepcopy(cfg)
        self.categories = categories
        mc = cfg.model
        thing_channels = [i for i, c in enumerate(categories.categories) if c.isthing]
        if not thing_channels:
            raise ValueError("the model needs at least one thing category (isthing=1) for its detection branch")
        num_classes = len(categories)
        channel_to_class = torch.full((num_classes,), -1, dtype=torch.int64)
        channel_to_class[thing_channels] = torch.arange(len(thing_channels))
        # Derived from the categories (not saved): detection class k <-> thing channel thing_channels[k].
        self.register_buffer("thing_channels", torch.tensor(thing_channels, dtype=torch.int64), persistent=False)
        self.register_buffer("channel_to_class", channel_to_class, persistent=False)
        self.register_buffer("thing_mask", categories.thing_mask, persistent=False)
        self.register_buffer("pixel_mean", torch.tensor(pre.IMAGENET_MEAN).view(3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pre.IMAGENET_STD).view(3, 1, 1), persistent=False)

        self.backbone = build_backbone(mc.backbone, mc.pretrained_backbone, mc.frozen_bn,
                                       from_checkpoint=from_checkpoint)
        self.layout = mc.layout
        if self.layout == "research":
            # module creation order matters: it fixes the random initialisation of a seeded research model
            self.fpn = FPN(self.backbone.out_channels, mc.fpn_channels)
            self.semantic_head = SemanticHead(mc.fpn_channels, mc.branch_channels, num_classes)
            self.center_head = CenterHead(mc.fpn_channels, mc.branch_channels)
        elif self.layout == "fast":
            self.fpn = FPN(self.backbone.out_channels, mc.fpn_channels, first_level=3)
            self.decoder = SharedDecoder(mc.fpn_channels, mc.branch_channels, num_classes)
        else:
            raise ValueError(f"unknown model layout {self.layout!r}; choose research or fast")
        self.detection_head = det.FCOSHead(mc.fpn_channels, len(thing_channels), mc.det_head_convs,
                                           anchor_point=mc.anchor_point)
        # optional heads, created after the others so a seeded model without them initialises as before
        if mc.levelness:
            self.levelness_head = extra.LevelnessHead(mc.fpn_channels)
        if mc.borderness or mc.quality == "borderness":
            self.borderness_head = nn.Conv2d(mc.fpn_channels, 1, 3, padding=1)
            nn.init.normal_(self.borderness_head.weight, std=0.01)
            nn.init.zeros_(self.borderness_head.bias)
        if mc.mask_head:
            names = self.fpn.names[:4 if self.layout == "research" else 3]  # p2..p5 / p3..p5, as Mask R-CNN's FPN
            self.mask_head = extra.MaskHead(mc.fpn_channels, len(thing_channels), names)
        self.frozen = tuple(mc.freeze or ())
        for part in self.frozen:
            module = getattr(self, part, None) if part in FREEZABLE else None
            if module is None:
                valid = [p for p in FREEZABLE if getattr(self, p, None) is not None]
                raise ValueError(f"model.freeze: {part!r} is not a part of this model ({', '.join(valid)})")
            module.requires_grad_(False)

    def heads(self) -> tuple[str, ...]:
        """The optional heads this model has: levelness, borderness, mask_head."""
        return tuple(n for n in ("levelness", "borderness", "mask_head")
                     if getattr(self, n if n == "mask_head" else f"{n}_head", None) is not None)

    def train(self, mode: bool = True):
        """As nn.Module.train, but frozen parts (model.freeze) stay in eval mode (BatchNorm statistics fixed)."""
        super().train(mode)
        for part in getattr(self, "frozen", ()):
            getattr(self, part).eval()
        return self

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    # ------------------------------------------------------------------------------------ network
    def forward_raw(self, images: torch.Tensor, optional=None) -> dict:
        """The network alone on a normalised, padded batch [B, 3, H, W] (export-friendly).

        Returns {"semantic": [B, C, H/s, W/s] logits, "offsets": [B, 2, H/s, W/s] (x, y input px),
        "cls_logits" / "box_regression" / "centerness": lists over p3..p7 of [B, K | 4 | 1, h, w]}, with the
        branch stride s = 4 (research layout) or 8 (fast layout); s = H / semantic height.
        optional: which optional outputs to add, of those the model has (OPTIONAL_OUTPUTS): "levelness"
        [B, 6, H/8, W/8] logits, "borderness" list over p3..p7 of [B, 1, h, w] logits, "features" the pyramid
        levels of the mask head (list). None = levelness and borderness when present (what export traces).
        """
        want = ({"levelness", "borderness"} if optional is None else set(optional))
        pyramid = self.fpn(self.backbone(images))
        cls_logits, box_regression, centerness, box_features = self.detection_head.forward_with_box_features(
            [pyramid[n] for n in det.DETECTION_LEVELS])
        if self.layout == "fast":
            semantic, offsets = self.decoder(pyramid)
        else:
            semantic, offsets = self.semantic_head(pyramid), self.center_head(pyramid)
        out = {"semantic": semantic, "offsets": offsets,
               "cls_logits": cls_logits, "box_regression": box_regression, "centerness": centerness}
        if "levelness" in want and getattr(self, "levelness_head", None) is not None:
            out["levelness"] = self.levelness_head(box_features)
        if "borderness" in want and getattr(self, "borderness_head", None) is not None:
            out["borderness"] = [self.borderness_head(b) for b in box_features]
        if "features" in want and getattr(self, "mask_head", None) is not None:
            out["features"] = [pyramid[n] for n in self.mask_head.level_names]
        return out

    def mask_logits(self, features: list[torch.Tensor], boxes: list[torch.Tensor],
                    padded: tuple[int, int]) -> torch.Tensor:
        """RoI mask head: per-class 28x28 mask logits [sum Ni, K, 28, 28] for boxes (input px) per image."""
        if getattr(self, "mask_head", None) is None:
            raise ValueError("this model has no RoI mask head (model.mask_head)")
        return self.mask_head(features, boxes, padded)

    @property
    def output_stride(self) -> int:
        """Stride of the "semantic" and "offsets" outputs relative to the network input (4 or 8)."""
        return 8 if self.layout == "fast" else 4

    def inference_network(self) -> PanopticModel:
        """This network with every conv -> BatchNorm pair folded (modeling/fold.py), for eager inference
        runtimes: same forward_raw to float rounding, ~10-15% faster on CPU (a ResNet-50's FrozenBatchNorm2d
        layers are two extra passes over every activation). A copy cached on the model and rebuilt when its
        weights change; the model itself, its state dict and its forward_raw stay as they are."""
        return folded_for_inference(self)

    def forward(self, images: list[torch.Tensor], targets: list[dict] | None = None) -> dict[str, torch.Tensor]:
        """Training: images list of float [3, H, W] in 0..1 (already resized), targets as the dataset gives
        them -> {"loss_cls", "loss_box", "loss_ctr", "loss_sem", "loss_offset", "loss" (weighted total)}."""
        if targets is None:
            raise ValueError("PanopticModel.forward computes training losses and needs targets; "
                             "infer through panoptic_ros.pipeline.build_pipeline(model)")
        if len(images) != len(targets):
            raise ValueError(f"got {len(images)} images but {len(targets)} targets")
        images = [pre.as_float_image(im, self.device, i) for i, im in enumerate(images)]
        targets = [self._check_target(t, tuple(im.shape[-2:]), i) for i, (im, t) in enumerate(zip(images, targets))]
        batch = pre.normalized_batch(images, self.cfg.model.size_divisibility)
        raw = self.forward_raw(batch, optional=OPTIONAL_OUTPUTS)
        return self.compute_losses(raw, targets, tuple(batch.shape[-2:]))

    # ------------------------------------------------------------------------------------ losses
    def _check_target(self, target: dict, size: tuple[int, int], index: int) -> dict:
        missing = [k for k in TARGET_KEYS if k not in target]
        if missing:
            raise ValueError(f"target {index}: missing key(s) {', '.join(missing)}")
        dev = self.device
        t = {"semantic": target["semantic"].to(dev, torch.int64), "boxes": target["boxes"].to(dev, torch.float32),
             "labels": target["labels"].to(dev, torch.int64),
             "center_offsets": target["center_offsets"].to(dev, torch.float32),
             "offset_weight": target["offset_weight"].to(dev, torch.float32)}
        for key, shape in (("semantic", size), ("center_offsets", (2, *size)), ("offset_weight", size)):
            if tuple(t[key].shape) != tuple(shape):
                raise ValueError(f"target {index}: {key!r} has shape {tuple(t[key].shape)}, expected {shape} "
                                 "to match the image")
        if t["boxes"].ndim != 2 or t["boxes"].shape[1] != 4 or len(t["labels"]) != len(t["boxes"]):
            raise ValueError(f"target {index}: boxes must be [N, 4] with N labels, got {tuple(t['boxes'].shape)} "
                             f"and {len(t['labels'])} labels")
        if len(t["labels"]):
            num_classes = len(self.categories)
            bad = (t["labels"] < 0) | (t["labels"] >= num_classes)
            if bad.any():
                raise ValueError(f"target {index}: label(s) {t['labels'][bad].tolist()} are not channel indices "
                                 f"0..{num_classes - 1}")
            classes = self.channel_to_class[t["labels"]]
            if (classes < 0).any():
                names = [self.categories.category(int(c)).name for c in t["labels"][classes < 0]]
                raise ValueError(f"target {index}: boxes labelled with stuff categories {names}")
            t["classes"] = classes
        else:
            t["classes"] = t["labels"]
        if "instance_map" in target:
            t["instance_map"] = target["instance_map"].to(dev, torch.int64)
            if tuple(t["instance_map"].shape) != tuple(size):
                raise ValueError(f"target {index}: 'instance_map' has shape {tuple(t['instance_map'].shape)}, "
                                 f"expected {size} to match the image")
        elif self.heads():
            raise ValueError(f"target {index}: missing key instance_map (the model's {', '.join(self.heads())} "
                             "head(s) learn from the instance masks)")
        return t

    def compute_losses(self, raw: dict, targets: list[dict], padded: tuple[int, int]) -> dict[str, torch.Tensor]:
        """Losses of forward_raw() outputs against checked targets (see forward)."""
        lc = self.cfg.loss
        stride = branch_stride(padded, raw["semantic"].shape[-2:])
        semantic = F.interpolate(raw["semantic"], scale_factor=stride, mode="bilinear", align_corners=False)
        offsets = F.interpolate(raw["offsets"], scale_factor=stride, mode="bilinear", align_corners=False)
        semantic, offsets = semantic[..., :padded[0], :padded[1]], offsets[..., :padded[0], :padded[1]]
        sem_target = torch.stack([pre.pad_to(t["semantic"], padded, IGNORE_LABEL) for t in targets])
        off_target = torch.stack([pre.pad_to(t["center_offsets"], padded) for t in targets])
        off_weight = torch.stack([pre.pad_to(t["offset_weight"], padded) for t in targets])

        shapes = [tuple(m.shape[-2:]) for m in raw["cls_logits"]]
        points, strides, ranges = det.level_tensors(det.compute_locations(shapes, device=self.device))
        assigned = []
        for t in targets:
            # void / crowd pixels of the image (not the padding) are ignore regions for classification
            ignore_map = pre.pad_to((t["semantic"] == IGNORE_LABEL).float(), padded) > 0
            assigned.append(det.fcos_targets(points, strides, ranges, t["boxes"], t["classes"],
                                             ignore=_sample_at(ignore_map, points)))
        losses = detection_losses(det.flatten_levels(raw["cls_logits"]), det.flatten_levels(raw["box_regression"]),
                                  det.flatten_levels(raw["centerness"]).squeeze(-1), points, assigned,
                                  alpha=lc.focal_alpha, gamma=lc.focal_gamma)
        losses["loss_sem"] = semantic_loss(semantic, sem_target)
        losses["loss_offset"] = offset_loss(offsets, off_target, off_weight)
        losses["loss"] = (lc.lambda_o * (losses["loss_cls"] + losses["loss_box"] + losses["loss_ctr"])
                          + lc.lambda_s * losses["loss_sem"] + lc.lambda_i * losses["loss_offset"])
        if self.heads():
            extra_losses = self._extra_losses(raw, targets, padded, points, assigned)
            losses.update(extra_losses)
            losses["loss"] = losses["loss"] + (lc.lambda_o * extra_losses.get("loss_border", 0.0)
                                               + lc.lambda_level * extra_losses.get("loss_level", 0.0)
                                               + lc.lambda_mask * extra_losses.get("loss_mask", 0.0))
        return losses

    def _extra_losses(self, raw: dict, targets: list[dict], padded: tuple[int, int], points: torch.Tensor,
                      assigned: list[dict]) -> dict[str, torch.Tensor]:
        """Losses of the optional heads (extra_heads.py) against targets built from the instance maps."""
        instance_maps = [pre.pad_to(t["instance_map"] + 1, padded) - 1 for t in targets]   # -1 in the padding
        semantics = [pre.pad_to(t["semantic"], padded, IGNORE_LABEL) for t in targets]
        out = {}
        if "levelness" in raw:
            logits = raw["levelness"]
            level_points = det.compute_locations([tuple(logits.shape[-2:])], det.DETECTION_STRIDES[:1],
                                                 self.device)[0]
            level_ranges = torch.tensor(det.SIZES_OF_INTEREST, dtype=torch.float32, device=self.device)
            target = torch.stack([extra.levelness_targets(level_points, im, sem, t["boxes"], level_ranges)
                                  for im, sem, t in zip(instance_maps, semantics, targets)])
            out["loss_level"] = extra.levelness_loss(logits, target.view(len(targets), *logits.shape[-2:]))
        if "borderness" in raw:
            if self.cfg.loss.borderness_target == "box":   # a retrained centerness (comparisons)
                target = torch.stack([a["centerness"] for a in assigned])
            else:
                target = torch.stack([extra.borderness_targets(points, a["matched"], im,
                                                               extra.mask_border_distances(im))
                                      for a, im in zip(assigned, instance_maps)])
            positive = torch.stack([a["labels"] >= 0 for a in assigned])
            out["loss_border"] = extra.borderness_loss(det.flatten_levels(raw["borderness"]).squeeze(-1), target,
                                                       positive)
        if "features" in raw:
            generator = torch.Generator().manual_seed(int(sum(len(t["boxes"]) for t in targets)))
            rois, classes, masks = [], [], []
            budget = extra.MAX_TRAIN_ROIS // 2
            for t, im in zip(targets, instance_maps):
                n = min(len(t["boxes"]), max(budget, 0))
                budget -= n
                index = torch.arange(n, device=self.device)
                boxes = torch.cat([t["boxes"][:n], extra.jitter_boxes(t["boxes"][:n], padded, generator)])
                index = torch.cat([index, index])
                rois.append(boxes)
                classes.append(t["classes"][index])
                masks.append(extra.mask_roi_targets(im, boxes, index))
            logits = self.mask_logits(raw["features"], rois, padded)
            out["loss_mask"] = extra.mask_loss(logits, torch.cat(classes), torch.cat(masks))
        return out


def branch_stride(padded: tuple[int, int], branch_size: tuple[int, int]) -> int:
    """Stride (a power of two) of a branch output of spatial size branch_size for a padded input of size
    padded; the output may be ceil-sized when the padding is not a multiple of the stride."""
    ratio = max(padded[0] / branch_size[0], padded[1] / branch_size[1])
    return 2 ** max(0, round(math.log2(ratio)))


def _sample_at(mask: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Value of a [H, W] map at the pixels containing points [L, 2] (False outside the map)."""
    x = points[:, 0].floor().long()
    y = points[:, 1].floor().long()
    inside = (x >= 0) & (y >= 0) & (x < mask.shape[1]) & (y < mask.shape[0])
    out = torch.zeros(len(points), dtype=torch.bool, device=mask.device)
    out[inside] = mask[y[inside], x[inside]]
    return out
