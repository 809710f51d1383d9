"""PanopticModel: encoder + FPN + semantic / detection / instance-center branches, losses and predict().

forward(images, targets) -> dict of losses (training); predict(images) -> list[PanopticResult] runs the
network and the parameter-free panoptic head (panoptic_ros.panoptic.fuse) end to end. The stages of
predict() (prepare_inputs, forward_raw, postprocess_detections, postprocess_panoptic) are public so
export and benchmarks can run and time them separately.
"""
from __future__ import annotations

import copy
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import InferenceConfig, PanopticConfig
from ..data.categories import CategoryMap
from . import detection_head as det
from . import preprocess as pre
from .backbone import build_backbone
from .center_head import CenterHead
from .fpn import FPN
from .losses import IGNORE_INDEX, detection_losses, offset_loss, semantic_loss
from .semantic_head import SemanticHead

TARGET_KEYS = ("semantic", "boxes", "labels", "center_offsets", "offset_weight")


@dataclass
class PreparedBatch:
    """Network input for a list of images: normalised, padded batch and the sizes needed to map back."""
    images: torch.Tensor                     # [B, 3, H, W] normalised, zero padded
    input_sizes: list[tuple[int, int]]       # each image's (h, w) inside the batch (after resizing)
    original_sizes: list[tuple[int, int]]    # each image's (h, w) as given


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
        self.fpn = FPN(self.backbone.out_channels, mc.fpn_channels)
        self.semantic_head = SemanticHead(mc.fpn_channels, mc.branch_channels, num_classes)
        self.center_head = CenterHead(mc.fpn_channels, mc.branch_channels)
        self.detection_head = det.FCOSHead(mc.fpn_channels, len(thing_channels), mc.det_head_convs)

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    # ------------------------------------------------------------------------------------ network
    def forward_raw(self, images: torch.Tensor) -> dict:
        """The network alone on a normalised, padded batch [B, 3, H, W] (export-friendly).

        Returns {"semantic": [B, C, H/4, W/4] logits, "offsets": [B, 2, H/4, W/4] (x, y input px),
        "cls_logits" / "box_regression" / "centerness": lists over p3..p7 of [B, K | 4 | 1, h, w]}.
        """
        pyramid = self.fpn(self.backbone(images))
        cls_logits, box_regression, centerness = self.detection_head([pyramid[n] for n in det.DETECTION_LEVELS])
        return {"semantic": self.semantic_head(pyramid), "offsets": self.center_head(pyramid),
                "cls_logits": cls_logits, "box_regression": box_regression, "centerness": centerness}

    def forward(self, images: list[torch.Tensor], targets: list[dict] | None = None) -> dict[str, torch.Tensor]:
        """Training: images list of float [3, H, W] in 0..1 (already resized), targets as the dataset gives
        them -> {"loss_cls", "loss_box", "loss_ctr", "loss_sem", "loss_offset", "loss" (weighted total)}."""
        if targets is None:
            raise ValueError("PanopticModel.forward computes training losses and needs targets; "
                             "use predict(images) for inference")
        if len(images) != len(targets):
            raise ValueError(f"got {len(images)} images but {len(targets)} targets")
        images = [pre.as_float_image(im, self.device, i) for i, im in enumerate(images)]
        targets = [self._check_target(t, tuple(im.shape[-2:]), i) for i, (im, t) in enumerate(zip(images, targets))]
        batch = pre.batch_images([pre.normalize(im, self.pixel_mean, self.pixel_std) for im in images],
                                 self.cfg.model.size_divisibility)
        raw = self.forward_raw(batch)
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
        return t

    def compute_losses(self, raw: dict, targets: list[dict], padded: tuple[int, int]) -> dict[str, torch.Tensor]:
        """Losses of forward_raw() outputs against checked targets (see forward)."""
        lc = self.cfg.loss
        semantic = F.interpolate(raw["semantic"], scale_factor=4, mode="bilinear", align_corners=False)
        offsets = F.interpolate(raw["offsets"], scale_factor=4, mode="bilinear", align_corners=False)
        semantic, offsets = semantic[..., :padded[0], :padded[1]], offsets[..., :padded[0], :padded[1]]
        sem_target = torch.stack([pre.pad_to(t["semantic"], padded, IGNORE_INDEX) for t in targets])
        off_target = torch.stack([pre.pad_to(t["center_offsets"], padded) for t in targets])
        off_weight = torch.stack([pre.pad_to(t["offset_weight"], padded) for t in targets])

        shapes = [tuple(m.shape[-2:]) for m in raw["cls_logits"]]
        points, strides, ranges = det.level_tensors(det.compute_locations(shapes, device=self.device))
        assigned = []
        for t in targets:
            # void / crowd pixels of the image (not the padding) are ignore regions for classification
            ignore_map = pre.pad_to((t["semantic"] == IGNORE_INDEX).float(), padded) > 0
            assigned.append(det.fcos_targets(points, strides, ranges, t["boxes"], t["classes"],
                                             ignore=_sample_at(ignore_map, points)))
        losses = detection_losses(det.flatten_levels(raw["cls_logits"]), det.flatten_levels(raw["box_regression"]),
                                  det.flatten_levels(raw["centerness"]).squeeze(-1), points, assigned,
                                  alpha=lc.focal_alpha, gamma=lc.focal_gamma)
        losses["loss_sem"] = semantic_loss(semantic, sem_target)
        losses["loss_offset"] = offset_loss(offsets, off_target, off_weight)
        losses["loss"] = (lc.lambda_o * (losses["loss_cls"] + losses["loss_box"] + losses["loss_ctr"])
                          + lc.lambda_s * losses["loss_sem"] + lc.lambda_i * losses["loss_offset"])
        return losses

    # ------------------------------------------------------------------------------------ inference
    def input_limits(self, inference: InferenceConfig | None = None) -> tuple[int, int]:
        """(shorter side, longer side limit) of the network input; 0 in the settings means the model's own
        (its checkpoint's inference setting, else the training resize data.min_size / data.max_size)."""
        inf = inference or self.cfg.inference
        shorter = inf.input_size or self.cfg.inference.input_size or self.cfg.data.min_size
        longer = inf.max_input_size or self.cfg.inference.max_input_size or self.cfg.data.max_size
        return shorter, max(shorter, longer)

    def prepare_inputs(self, images: list, inference: InferenceConfig | None = None) -> PreparedBatch:
        """Resize (shorter side inference.input_size), normalise and pad a list of images onto the device."""
        inf = inference or self.cfg.inference
        if not isinstance(images, (list, tuple)):
            raise TypeError("predict() takes a list of images (HxWx3 uint8 RGB arrays or [3, H, W] float tensors)")
        if not images:
            raise ValueError("predict() got an empty list of images")
        resized, input_sizes, original_sizes = [], [], []
        shorter, longer = self.input_limits(inf)
        for i, image in enumerate(images):
            im = pre.as_float_image(image, self.device, i)
            h, w = im.shape[-2:]
            size = pre.resized_size(h, w, shorter, longer)
            resized.append(pre.normalize(pre.resize_image(im, size), self.pixel_mean, self.pixel_std))
            input_sizes.append(size)
            original_sizes.append((int(h), int(w)))
        return PreparedBatch(pre.batch_images(resized, self.cfg.model.size_divisibility), input_sizes, original_sizes)

    def postprocess_detections(self, raw: dict, input_sizes: list[tuple[int, int]],
                               inference: InferenceConfig | None = None) -> list[dict[str, torch.Tensor]]:
        """Boxes (network-input px), scores and labels (category channel index) per image after NMS."""
        inf = inference or self.cfg.inference
        dets = det.postprocess_detections(raw["cls_logits"], raw["box_regression"], raw["centerness"], input_sizes,
                                          score_threshold=inf.score_threshold, nms_threshold=inf.nms_threshold,
                                          pre_nms_top_k=inf.pre_nms_top_k, max_detections=inf.max_detections)
        for d in dets:
            d["labels"] = self.thing_channels[d["labels"]]
        return dets

    def postprocess_panoptic(self, raw: dict, detections: list[dict], prepared: PreparedBatch,
                             inference: InferenceConfig | None = None) -> list:
        """Map semantic logits, offsets and boxes to each original image and fuse them into panoptic maps."""
        from ..panoptic import fuse  # the panoptic head; imported here to keep modeling importable alone

        inf = inference or self.cfg.inference
        results = []
        for i, (in_size, out_size) in enumerate(zip(prepared.input_sizes, prepared.original_sizes)):
            sy, sx = in_size[0] / out_size[0], in_size[1] / out_size[1]
            semantic = pre.stride4_to_image(raw["semantic"][i].float(), in_size, out_size)
            offsets = pre.stride4_to_image(raw["offsets"][i].float(), in_size, out_size)
            offsets = offsets / offsets.new_tensor([sx, sy]).view(2, 1, 1)
            d = detections[i]
            boxes = d["boxes"] / d["boxes"].new_tensor([sx, sy, sx, sy])
            results.append(fuse(semantic, boxes, d["scores"], d["labels"], thing_mask=self.thing_mask,
                                policy=inf.merge_policy, center_offsets=offsets,
                                stuff_area_threshold=inf.stuff_area_threshold,
                                unknown_undetected_things=inf.unknown_undetected_things))
        return results

    def predict(self, images: list, *, inference: InferenceConfig | None = None) -> list:
        """Panoptic segmentation of each image at its own resolution -> list[PanopticResult].

        images: HxWx3 uint8 RGB numpy arrays or float tensors [3, H, W] in 0..1, any size.
        inference: thresholds / sizes / merge policy (default: self.cfg.inference).
        """
        inf = inference or self.cfg.inference
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                prepared = self.prepare_inputs(images, inf)
                half = inf.half and self.device.type == "cuda"
                with torch.autocast("cuda", dtype=torch.float16) if half else nullcontext():
                    raw = self.forward_raw(prepared.images)
                detections = self.postprocess_detections(raw, prepared.input_sizes, inf)
                return self.postprocess_panoptic(raw, detections, prepared, inf)
        finally:
            self.train(was_training)


def _sample_at(mask: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Value of a [H, W] map at the pixels containing points [L, 2] (False outside the map)."""
    x = points[:, 0].floor().long()
    y = points[:, 1].floor().long()
    inside = (x >= 0) & (y >= 0) & (x < mask.shape[1]) & (y < mask.shape[0])
    out = torch.zeros(len(points), dtype=torch.bool, device=mask.device)
    out[inside] = mask[y[inside], x[inside]]
    return out


def build_model(cfg: PanopticConfig, categories: CategoryMap) -> PanopticModel:
    """The model described by cfg.model for the given categories (all classes for semantics, things for
    detection)."""
    return PanopticModel(cfg, categories)
