"""PanopticModel: encoder + FPN + semantic / detection / instance-center branches, losses and predict().

Two network layouts (cfg.model.layout), same raw outputs and losses:
- research: FPN p2..p7, separate multi-scale semantic and center branches at stride 4 (the paper's design;
  checkpoints without the field load as this, unchanged).
- fast: FPN p3..p7 exactly as torchvision FCOS, one shared light semantic/center decoder at stride 8
  (shared_decoder.py). The branch outputs are then at stride 8; consumers derive the stride from the shapes.

forward(images, targets) -> dict of losses (training); forward_raw(batch) -> the network's dense outputs
(what runtimes export); predict(images) -> list[PanopticResult] runs panoptic_ros.pipeline end to end with
this model as its torch runtime.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import InferenceConfig, PanopticConfig
from ..data.categories import IGNORE_LABEL, CategoryMap
from . import detection_head as det
from . import preprocess as pre
from .backbone import build_backbone
from .center_head import CenterHead
from .fpn import FPN
from .losses import detection_losses, offset_loss, semantic_loss
from .semantic_head import SemanticHead
from .shared_decoder import SharedDecoder

TARGET_KEYS = ("semantic", "boxes", "labels", "center_offsets", "offset_weight")


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
        self.layout = getattr(mc, "layout", "research")
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
        self.detection_head = det.FCOSHead(mc.fpn_channels, len(thing_channels), mc.det_head_convs)

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    # ------------------------------------------------------------------------------------ network
    def forward_raw(self, images: torch.Tensor) -> dict:
        """The network alone on a normalised, padded batch [B, 3, H, W] (export-friendly).

        Returns {"semantic": [B, C, H/s, W/s] logits, "offsets": [B, 2, H/s, W/s] (x, y input px),
        "cls_logits" / "box_regression" / "centerness": lists over p3..p7 of [B, K | 4 | 1, h, w]}, with the
        branch stride s = 4 (research layout) or 8 (fast layout); s = H / semantic height.
        """
        pyramid = self.fpn(self.backbone(images))
        cls_logits, box_regression, centerness = self.detection_head([pyramid[n] for n in det.DETECTION_LEVELS])
        if self.layout == "fast":
            semantic, offsets = self.decoder(pyramid)
        else:
            semantic, offsets = self.semantic_head(pyramid), self.center_head(pyramid)
        return {"semantic": semantic, "offsets": offsets,
                "cls_logits": cls_logits, "box_regression": box_regression, "centerness": centerness}

    @property
    def output_stride(self) -> int:
        """Stride of the "semantic" and "offsets" outputs relative to the network input (4 or 8)."""
        return 8 if self.layout == "fast" else 4

    def inference_network(self) -> PanopticModel:
        """This network with every conv -> BatchNorm pair folded (modeling/fold.py), for eager inference
        runtimes: same forward_raw to float rounding, ~10-15% faster on CPU (a ResNet-50's FrozenBatchNorm2d
        layers are two extra passes over every activation). A copy cached on the model and rebuilt when its
        weights change; the model itself, its state dict and its forward_raw stay as they are."""
        from .fold import folded_for_inference
        return folded_for_inference(self)

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
        return losses

    # ------------------------------------------------------------------------------------ inference
    def predict(self, images: list, *, inference: InferenceConfig | None = None) -> list:
        """Panoptic segmentation of each image at its own resolution -> list[PanopticResult].

        images: HxWx3 uint8 RGB numpy arrays or float tensors [3, H, W] in 0..1, any size.
        inference: thresholds / sizes / merge policy / precision (default: self.cfg.inference).
        Runs panoptic_ros.pipeline with this model as its torch runtime (the one inference path).
        """
        from ..pipeline import PanopticPipeline
        from ..runtime.loading import load_runtime

        inf = inference or self.cfg.inference
        was_training = self.training
        self.eval()
        try:
            runtime = load_runtime(self, runtime="torch", device=self.device, precision=inf.precision)
            return PanopticPipeline(runtime, inference=inf).predict(images)
        finally:
            self.train(was_training)


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


def build_model(cfg: PanopticConfig, categories: CategoryMap) -> PanopticModel:
    """The model described by cfg.model for the given categories (all classes for semantics, things for
    detection)."""
    return PanopticModel(cfg, categories)
