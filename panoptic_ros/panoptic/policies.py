"""Merge policies: who owns a pixel that several boxes of the same class cover.

fuse() visits detections in ``policy.order(...)`` (best first) and a detection takes a pixel only when its
class logit there is strictly higher than the current owner's, or equal and (for per-pixel policies) its
``pixel_cost`` is strictly lower. Same-class boxes share one logit map, so between them the policy alone
decides; the strict comparisons make ties go to the detection visited first.

A policy is a MergePolicy subclass registered with ``@MERGE_POLICIES.register()`` (its ``name`` is the key):
that single registration makes it selectable in fuse(), in the config (``inference.merge_policy``), on the
command line (``--policy``) and as the node's ``merge_policy`` parameter. See docs/extending.md.

Tie rules (documented in the README):
- highest_confidence: higher score wins; equal scores -> lower detection index.
- smallest_first: smaller (clipped) box area wins; equal areas -> higher score, then lower index.
- closest_center: the box center nearest to (pixel center + predicted center offset) wins; equal distances ->
  higher score, then lower index.

Mask-based policies (``builds_masks = True``, issue 8; one module each in panoptic/mask_policies/, shared parts in
panoptic/mask_merge.py, docs/policies.md) build a mask per detection from a network output only they need and merge
the masks instead of box crops of class logits:
- dense_iou: IoU(predicted box at the pixel, detection) x P(class) > sigma; levelness head optional.
- paste_borderness: box x semantic class, overlap drop, contested pixels by border-ness (border-ness head).
- mask_heuristic: RoI masks (mask head), advanced / baseline heuristics.
Ties: a pixel goes to the higher score, then the lower detection index (paste_borderness: the closest
border-ness first; mask_heuristic advanced: the highest mask probability x score first).
A policy whose ``required_head`` the loaded model (or its runtime) lacks is refused with PolicyUnavailable.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..config import InferenceConfig
from ..registry import MERGE_POLICIES


def _by_score(scores: torch.Tensor) -> torch.Tensor:
    """Indices by descending score; equal scores keep detection order (stable sort)."""
    return torch.sort(-scores.double(), stable=True).indices


class PolicyUnavailable(ValueError):
    """The loaded model or its runtime cannot run a merge policy; the message names the missing head."""


# optional head -> (config field, what it is, the network output the pipeline reads)
HEADS = {"levelness": ("model.levelness", "levelness head", "levelness"),
         "borderness": ("model.borderness", "border-ness head", "borderness"),
         "mask_head": ("model.mask_head", "RoI mask head", "features")}


class MergePolicy:
    """Base: a visiting order, optionally refined per pixel by a cost (lower wins).

    Subclasses set ``name`` (the registry key), implement ``order`` and, with ``per_pixel = True``,
    ``pixel_cost``; ``needs_center_offsets = True`` makes fuse() require the [2, H, W] center offsets.
    """

    name = ""
    needs_center_offsets = False
    per_pixel = False
    builds_masks = False          # mask-based: merged by panoptic/mask_merge.py from optional network outputs
    required_head = ""            # an optional head (HEADS) the policy cannot run without
    optional_outputs: tuple = ()  # optional network outputs it reads (requested only while it is active)

    def order(self, scores: torch.Tensor, areas: torch.Tensor) -> torch.Tensor:
        """Detection indices (int64, CPU), best first. scores, areas: [N] CPU tensors."""
        raise NotImplementedError

    def pixel_cost(self, center: tuple[float, float], xs: torch.Tensor, ys: torch.Tensor,
                   offsets: torch.Tensor | None) -> torch.Tensor:
        """float32 [h, w] cost of a detection at the pixels of its box crop (per-pixel policies only)."""
        raise NotImplementedError

    def pixel_costs(self, centers: list, xs: torch.Tensor, ys: torch.Tensor,
                    offsets: torch.Tensor | None) -> torch.Tensor:
        """float32 [N, h, w]: pixel_cost of N detections over the same pixels (override to vectorise)."""
        return torch.stack([self.pixel_cost(center, xs, ys, offsets) for center in centers])

    def requested_outputs(self, inference: InferenceConfig) -> tuple[str, ...]:
        """The optional network outputs this policy reads under these settings (asked of the runtime only while
        it is active)."""
        return tuple(self.optional_outputs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@MERGE_POLICIES.register()
class HighestConfidence(MergePolicy):
    """The detector's most confident box keeps the shared pixels."""

    name = "highest_confidence"

    def order(self, scores, areas):
        return _by_score(scores)


@MERGE_POLICIES.register()
class SmallestFirst(MergePolicy):
    """The smaller box keeps the shared pixels (a small object in front of a large one)."""

    name = "smallest_first"

    def order(self, scores, areas):
        by_score = _by_score(scores)
        return by_score[torch.sort(areas.double()[by_score], stable=True).indices]


@MERGE_POLICIES.register()
class ClosestCenter(MergePolicy):
    """Each shared pixel goes to the box whose center is nearest to where the pixel's offset points.

    With zero offsets the cut is the perpendicular bisector of the two box centers; trained offsets move
    it to the instances' real boundary.
    """

    name = "closest_center"
    needs_center_offsets = True
    per_pixel = True

    def order(self, scores, areas):
        return _by_score(scores)

    def pixel_cost(self, center, xs, ys, offsets):
        """Squared distance from (pixel center + offset) to the box center, in float32.

        xs: [w] and ys: [h] pixel-center coordinates (j + 0.5, i + 0.5) of the crop; offsets: [2, h, w] (x, y).
        """
        cx, cy = center
        dx = offsets[0].float() + (xs - cx).view(1, -1)
        dy = offsets[1].float() + (ys - cy).view(-1, 1)
        return dx.mul_(dx).add_(dy.mul_(dy))

    def pixel_costs(self, centers, xs, ys, offsets):
        """pixel_cost of every center at once (the same float32 operations, broadcast over detections)."""
        c = torch.tensor(centers, dtype=torch.float32, device=xs.device).view(-1, 2, 1, 1)
        dx = offsets[0].float() + (xs.view(1, 1, -1) - c[:, 0])
        dy = offsets[1].float() + (ys.view(1, -1, 1) - c[:, 1])
        return dx.mul_(dx).add_(dy.mul_(dy))


@dataclass
class BatchOutputs:
    """What a mask-based policy builds its per-detection maps from: one network pass over a batch (pipeline stage 5a).

    raw: the runtime's outputs (with the optional outputs the policy asked for); detections: per image, boxes
    [N, 4] network-input px, scores, labels (class channels), levels (pyramid level, 0 = p3); mapped: per image,
    its fuse grid (pipeline.mapping.MappedImage: semantic, boxes in grid px, scale, input_size, grid_size);
    padded: the padded network-input size; runtime: the network runtime (``mask_logits`` for RoI heads);
    thing_channels: the class channel of each detection class; inference: the settings of this run."""
    raw: dict
    detections: list
    mapped: list
    padded: tuple[int, int]
    runtime: Any
    thing_channels: torch.Tensor
    inference: InferenceConfig


class MaskMergePolicy(MergePolicy):
    """Base of the mask-based policies: visiting order by score (their masks decide the rest). A subclass is one
    module (panoptic/mask_policies/) implementing the three steps below; docs/extending.md has the recipe."""

    builds_masks = True

    def order(self, scores, areas):
        return _by_score(scores)

    def detection_maps(self, batch: BatchOutputs) -> list[torch.Tensor]:
        """Per image: float [N, gh, gw] maps (one per detection, on the fuse grid) the owner map merges."""
        raise NotImplementedError(f"merge policy {self.name}: detection_maps is not implemented")

    def owner_map(self, mapped, scores: torch.Tensor, labels: torch.Tensor, thing_mask: torch.Tensor,
                  inference: InferenceConfig, maps: torch.Tensor) -> torch.Tensor:
        """int32 [gh, gw] owner codes (panoptic.mask_merge conventions) of one image from its fuse grid (mapped:
        semantic logits, boxes in grid px), its detections and their maps; labels index mapped's channels."""
        raise NotImplementedError(f"merge policy {self.name}: owner_map is not implemented")

    def oracle_maps(self, instance_map: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """The ground-truth stand-in for detection_maps ([N, H, W], or [H, W] shared by all) from an image's
        instance map (int64 [H, W], -1 off instances) and its instances' boxes (evaluation.oracle)."""
        raise NotImplementedError(f"merge policy {self.name}: oracle_maps is not implemented")


def get_policy(name: str) -> MergePolicy:
    """An instance of the policy registered as `name`; ValueError lists the valid names."""
    entry = MERGE_POLICIES.get(name)
    return entry() if isinstance(entry, type) else entry


def box_policies() -> list[str]:
    """Registered policies fuse() runs on its own (box crops of class logits; the mask-based ones need the
    pipeline's optional network outputs), in registration order."""
    return [name for name in MERGE_POLICIES if not get_policy(name).builds_masks]
