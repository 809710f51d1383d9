"""The one inference pipeline: images -> preprocess -> network runtime -> detections -> mapping -> merge.

predict(), `panoptic eval` (several merge policies on one network pass), `panoptic bench model`, `bag eval` and
the ROS node all run this object, and it times its own stages (timing.STAGES), so nobody keeps a copy of the
stages with its own autocast, upsampling or box rescaling. The network runtime (torch, onnxruntime,
openvino, ...: panoptic_ros.runtime) is the pluggable part; everything before and after it is torch code here.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..config import InferenceConfig, set_value
from ..modeling import default_model_path
from ..modeling import detection_head as det
from ..modeling.panoptic_model import PanopticModel
from ..panoptic.fuse import OwnerMap, fuse_owner_map, segments_of
from ..panoptic.policies import HEADS, BatchOutputs, MaskMergePolicy, MergePolicy, PolicyUnavailable, get_policy
from ..panoptic.result import PanopticResult
from ..runtime.loading import load_runtime
from .inputs import PreparedBatch, prepare_batch
from .mapping import MappedImage, decision_channels, image_resize, map_image, output_stride, to_image
from .timing import StageTimer


@dataclass
class Detections:
    """One image's detections after NMS: boxes in network-input pixels, labels as category channels."""
    boxes: torch.Tensor      # [N, 4] xyxy
    scores: torch.Tensor     # [N]
    labels: torch.Tensor     # [N] channel index
    levels: torch.Tensor | None = None  # [N] pyramid level (0 = p3) each detection came from

    def in_image(self, input_size: tuple[int, int], image_size: tuple[int, int]) -> torch.Tensor:
        """Boxes scaled to the original image."""
        sy, sx = image_size[0] / input_size[0], image_size[1] / input_size[1]
        return self.boxes.float() * self.boxes.new_tensor([sx, sy, sx, sy], dtype=torch.float32)


@dataclass
class PipelineRun:
    """Everything one run produced: results per policy, detections, optional semantic maps, stage times."""
    results: dict[str, list[PanopticResult]]
    detections: list[Detections]
    prepared: PreparedBatch
    semantic: list[torch.Tensor] | None = None          # int64 [H, W] argmax of the semantic branch per image
    seconds: dict[str, float] = field(default_factory=dict)

    def stage_seconds(self, policy: str) -> dict[str, float]:
        """The common stages plus this policy's merge, per batch, as {stage: seconds}."""
        out = {k: v for k, v in self.seconds.items() if not k.startswith("merge:")}
        out["merge"] = self.seconds.get(f"merge:{policy}", 0.0)
        return out

    def latency(self, policy: str) -> float:
        """Input image to panoptic result for this policy (seconds, whole batch)."""
        return sum(self.stage_seconds(policy).values())


def decode_detections(raw: dict, input_sizes: list[tuple[int, int]], inference: InferenceConfig,
                      thing_channels: torch.Tensor, quality: str = "centerness",
                      strict: bool = True) -> list[Detections]:
    """FCOS outputs -> per-image boxes, scores and category channels after class-wise NMS. quality: the output
    multiplied into the score (score_quality()); strict=False: centerness when the outputs lack it (a model's own
    model.quality=borderness with outputs that only imitate the network's, e.g. bench's SyntheticRuntime; every
    runtime of such a model gives the border-ness)."""
    if quality not in raw and not strict:
        quality = "centerness"
    if quality not in raw:
        raise PolicyUnavailable(f"detection score quality {quality} needs the {quality} output, which the loaded "
                                "model lacks" + (" (model.borderness)" if quality == "borderness" else ""))
    dets = det.postprocess_detections(raw["cls_logits"], raw["box_regression"], raw[quality], input_sizes,
                                      score_threshold=inference.score_threshold,
                                      nms_threshold=inference.nms_threshold,
                                      pre_nms_top_k=inference.pre_nms_top_k,
                                      max_detections=inference.max_detections)
    channels = thing_channels.to(raw["cls_logits"][0].device)
    return [Detections(d["boxes"], d["scores"], channels[d["labels"]], d.get("levels")) for d in dets]


def score_quality(inference: InferenceConfig, model_quality: str = "centerness") -> str:
    """The output multiplied into the detection score: inference.score_quality, "model" = model.quality."""
    want = inference.score_quality
    return model_quality if want == "model" else want


def restore_channels(owner: OwnerMap, channels: torch.Tensor, thing_mask: torch.Tensor,
                     labels: torch.Tensor) -> OwnerMap:
    """An owner map fused on the class channels ``channels`` only, in the codes of all C channels."""
    num_subset, num_classes = len(channels), len(thing_mask)
    device = owner.raw.device
    lut = torch.cat([torch.zeros(1, dtype=torch.int64, device=device), channels.to(device) + 1,
                     torch.arange(len(owner.scores), device=device) + 1 + num_classes])
    assert lut.numel() == 1 + num_subset + len(owner.scores)
    return OwnerMap(lut[owner.raw.long()].to(torch.int32), thing_mask, owner.scores, labels.detach().cpu().long())


def _class_argmax(mapped: MappedImage) -> torch.Tensor:
    best = mapped.semantic.argmax(0)
    return best if mapped.channels is None else mapped.channels.to(best.device)[best]


def merge_image(mapped: MappedImage, detections: Detections, policy: str, inference: InferenceConfig,
                thing_mask: torch.Tensor, policy_maps: torch.Tensor | None = None) -> PanopticResult:
    """Stage 5 for one image: the merge policy on the fuse grid (box crops: fuse.py; mask-based: the policy's owner
    map from its per-detection maps of stage 5a), then segments at the image resolution. thing_mask: bool [C] of
    all class channels. Also what the oracle evaluation runs on ground-truth inputs."""
    all_things = thing_mask
    labels = detections.labels
    if mapped.channels is not None:  # a subset of the class channels: fuse on it, then restore class codes
        to_subset = torch.full_like(thing_mask, -1, dtype=torch.int64)
        to_subset[mapped.channels] = torch.arange(len(mapped.channels), device=thing_mask.device)
        labels, thing_mask = to_subset[labels.to(thing_mask.device)], thing_mask[mapped.channels]
    merge = get_policy(policy)
    if merge.builds_masks:
        raw = mask_owner(merge, mapped, detections.scores, labels, thing_mask, inference, policy_maps)
        owner = OwnerMap(raw, thing_mask, detections.scores.detach().cpu().double(), labels.detach().cpu().long())
    else:
        owner = fuse_owner_map(mapped.semantic, mapped.boxes, detections.scores, labels, thing_mask=thing_mask,
                               policy=policy, center_offsets=mapped.offsets,
                               unknown_undetected_things=inference.unknown_undetected_things)
    if mapped.channels is not None:
        owner = restore_channels(owner, mapped.channels, all_things, detections.labels)
    return segments_of(owner, stuff_threshold(inference, mapped.image_size), image_resize(mapped))


def mask_owner(merge: MaskMergePolicy, mapped: MappedImage, scores: torch.Tensor, labels: torch.Tensor,
               thing_mask: torch.Tensor, inference: InferenceConfig, maps: torch.Tensor | None) -> torch.Tensor:
    """Owner codes of a mask-based policy from its per-detection maps on the grid (zeros when it got none)."""
    if maps is None:
        maps = torch.zeros((len(scores), *mapped.grid_size), device=mapped.semantic.device)
    return merge.owner_map(mapped, scores, labels, thing_mask, inference, maps)


class PanopticPipeline:
    """A network runtime plus the torch stages around it. Quacks like the model for inference: ``predict``,
    ``cfg``, ``categories``, ``device``, ``thing_mask``."""

    def __init__(self, runtime, inference: InferenceConfig | None = None):
        self.runtime = runtime
        self.cfg = copy.deepcopy(runtime.cfg)
        if inference is not None:
            self.cfg.inference = copy.deepcopy(inference)
        self.categories = runtime.categories
        self.device = torch.device(runtime.device)
        self.thing_mask = self.categories.thing_mask.to(self.device)
        self.thing_channels = torch.nonzero(self.thing_mask).flatten()

    @property
    def inference(self) -> InferenceConfig:
        return self.cfg.inference

    def inference_with(self, overrides: dict | None = None) -> InferenceConfig:
        """A validated copy of the pipeline's inference settings with {name: value} changes (None = keep)."""

        cfg = copy.deepcopy(self.cfg)
        for name, value in (overrides or {}).items():
            if value is not None:
                set_value(cfg, f"inference.{name}", value)
        return cfg.inference

    # ------------------------------------------------------------------------------------ stages
    def map_outputs(self, raw: dict, prepared: PreparedBatch, detections: list[Detections],
                    inference: InferenceConfig, with_offsets: bool) -> list[MappedImage]:
        """Stage 4 for every image of the batch (see mapping.py)."""
        padded = tuple(prepared.images.shape[-2:])
        stride = output_stride(raw["semantic"], padded)
        mapped = []
        for i, (in_size, out_size) in enumerate(zip(prepared.input_sizes, prepared.original_sizes)):
            offsets = raw["offsets"][i] if with_offsets else None
            channels = None
            if inference.fuse_resolution == "input":
                valid = raw["semantic"][i, :, :-(-in_size[0] // stride), :-(-in_size[1] // stride)]
                channels = decision_channels(valid, detections[i].labels, self.thing_mask,
                                             inference.unknown_undetected_things)
            mapped.append(map_image(raw["semantic"][i], offsets, detections[i].boxes, stride, in_size, out_size,
                                    inference.fuse_resolution, channels))
        return mapped

    def merge(self, mapped: MappedImage, detections: Detections, policy: str,
              inference: InferenceConfig, policy_maps: torch.Tensor | None = None) -> PanopticResult:
        """Stage 5: the panoptic head on the fuse grid, then segments at the image resolution (merge_image)."""
        return merge_image(mapped, detections, policy, inference, self.thing_mask, policy_maps)

    def policy_maps(self, merge: MergePolicy, raw: dict, prepared: PreparedBatch, detections: list[Detections],
                    mapped: list[MappedImage], inference: InferenceConfig) -> list[torch.Tensor | None]:
        """Stage 5a: the per-detection maps a mask-based policy merges, per image, on the fuse grid (the policy's
        detection_maps, panoptic/mask_policies/); None per image for the other policies."""
        if not merge.builds_masks:
            return [None] * len(mapped)
        return merge.detection_maps(BatchOutputs(raw, detections, mapped, tuple(prepared.images.shape[-2:]),
                                                 self.runtime, self.thing_channels, inference))

    # ------------------------------------------------------------------------------------ policy checks
    def check_policy(self, name: str) -> MergePolicy:
        """The merge policy ``name`` if this pipeline can run it; ValueError for an unknown name and
        PolicyUnavailable (a ValueError, one line) naming the head the loaded model or its runtime lacks."""
        merge = get_policy(name)
        head = merge.required_head
        if head:
            field, what, output = HEADS[head]
            if output not in self.runtime_outputs():
                if getattr(self.cfg.model, head):   # an export made before the head was exportable
                    runtime = getattr(self.runtime, "name", "?")
                    raise PolicyUnavailable(
                        f"merge policy {name} needs the {what} ({field}), which the model has but the file runtime "
                        f"{runtime} runs does not carry (exported before it could be); export it again")
                raise PolicyUnavailable(f"merge policy {name} needs the {what} ({field}), which the loaded model "
                                        "lacks; load a model trained with it (e.g. the shipped default model)")
        return merge

    def runtime_outputs(self) -> frozenset[str]:
        """Optional outputs the runtime can give (levelness, borderness, features)."""
        outputs = getattr(self.runtime, "optional_outputs", None)
        return outputs() if outputs is not None else frozenset()

    def requested_outputs(self, merges: Sequence[MergePolicy], inference: InferenceConfig) -> tuple[str, ...]:
        """Optional outputs the given policies (and the score quality) read, of those the runtime has."""
        want = {o for m in merges for o in m.requested_outputs(inference)}
        if score_quality(inference, self.model_quality) == "borderness":
            want.add("borderness")
        return tuple(sorted(want & self.runtime_outputs()))

    @property
    def model_quality(self) -> str:
        return self.cfg.model.quality

    # ------------------------------------------------------------------------------------ runs
    def run(self, images: list, *, inference: InferenceConfig | None = None, policies: Sequence[str] | None = None,
            semantic: bool = False, timed: bool = True) -> PipelineRun:
        """One network pass over a batch, merged with each policy (default: inference.merge_policy).

        semantic: also return the semantic branch's argmax per image (on the fuse grid, resized to the image).
        """
        inf = inference or self.cfg.inference
        policies = list(policies or [inf.merge_policy])
        merges = [self.check_policy(p) for p in policies]  # unknown / unavailable policies fail before any work
        optional = self.requested_outputs(merges, inf)
        timer = StageTimer(self.device, enabled=timed)
        with torch.inference_mode(), torch_threads(self.host_threads()):
            with timer.stage("preprocess"):
                prepared = prepare_batch(images, self.cfg, inf, self.device)
            with timer.stage("network"):
                raw = self.runtime(prepared.images, optional=optional) if optional else self.runtime(prepared.images)
            with timer.stage("detections"):
                detections = decode_detections(raw, prepared.input_sizes, inf, self.thing_channels,
                                               score_quality(inf, self.model_quality),
                                               strict=inf.score_quality != "model")
            with timer.stage("mapping"):
                mapped = self.map_outputs(raw, prepared, detections, inf,
                                          with_offsets=any(m.needs_center_offsets for m in merges))
            results = {}
            for policy, merge in zip(policies, merges):
                with timer.stage(f"merge:{policy}"):
                    maps = self.policy_maps(merge, raw, prepared, detections, mapped, inf)
                    results[policy] = [self.merge(m, d, policy, inf, pm) for m, d, pm in zip(mapped, detections, maps)]
            sem = [to_image(_class_argmax(m), m).cpu() for m in mapped] if semantic else None
        return PipelineRun(results, detections, prepared, sem, dict(timer.seconds))

    def host_threads(self) -> int:
        """torch threads for the stages around the network: the runtime's choice (NetworkRuntime.host_threads);
        a stand-in runtime without one (tests, bench head) keeps the process's setting."""
        choose = getattr(self.runtime, "host_threads", None)
        return choose() if choose is not None else torch.get_num_threads()

    def predict(self, images: list, *, inference: InferenceConfig | None = None) -> list[PanopticResult]:
        """Panoptic segmentation of each image at its own resolution -> list[PanopticResult].

        images: HxWx3 uint8 RGB numpy arrays or float tensors [3, H, W] in 0..1, any size.
        inference: thresholds / sizes / merge policy (default: the pipeline's).
        """
        inf = inference or self.cfg.inference
        return self.run(images, inference=inf, timed=False).results[inf.merge_policy]

    def close(self) -> None:
        """Free the runtime (and its GPU memory)."""
        close = getattr(self.runtime, "close", None)
        if close is not None:
            close()

    def __repr__(self) -> str:
        return (f"PanopticPipeline(runtime={getattr(self.runtime, 'name', '?')}, "
                f"precision={getattr(self.runtime, 'precision', '?')}, device={self.device})")


@contextmanager
def torch_threads(count: int):
    """torch's intra-op thread count set to ``count`` inside the block (process-wide), restored after it."""
    before = torch.get_num_threads()
    if count == before:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def stuff_threshold(inference: InferenceConfig, image_size: tuple[int, int]) -> int:
    """The stuff-area threshold in image pixels: stuff_area_fraction x pixels when set, else stuff_area_threshold."""
    fraction = inference.stuff_area_fraction
    if fraction > 0:
        return int(round(fraction * image_size[0] * image_size[1]))
    return inference.stuff_area_threshold


def resolve_model_path(path: str | Path | None = None) -> Path:
    """The one model-path resolver: "" / None = the shipped model; FileNotFoundError names the file."""

    file = Path(path).expanduser() if path else default_model_path()
    if not file.is_file():
        hint = (" (the shipped default model is not installed: train it with `make model`)" if not path else
                " (expected a .safetensors checkpoint with its .json, an exported .onnx, or an OpenVINO .xml)")
        raise FileNotFoundError(f"model file not found: {file}{hint}")
    return file


def build_pipeline(source=None, *, device: str | None = None, runtime: str | None = None,
                   precision: str | None = None, inference: InferenceConfig | None = None,
                   overrides: dict | None = None, cache_dir: str | None = None) -> PanopticPipeline:
    """A ready pipeline for a model: source = None (the shipped model), a path (.safetensors / .pt checkpoint,
    .onnx, OpenVINO .xml) or a PanopticModel. device / runtime / precision / cache_dir (and the network's
    num_threads and int8 calibration folder) default to ``overrides``' or ``inference``'s fields when given, else
    "auto" / the runtime's defaults (every runtime runs every merge policy the model has the
    heads for). inference replaces the model's own inference settings; overrides ({name: value}, validated)
    change some of them (e.g. the command line's merge_policy)."""

    def pick(value, name):
        if value is not None:
            return value
        if overrides and name in overrides:
            return overrides[name]
        return getattr(inference, name) if inference is not None else None

    if not isinstance(source, PanopticModel):
        source = resolve_model_path(source)
    chosen = pick(runtime, "runtime") or "auto"
    options = dict(device=pick(device, "device") or "auto", precision=pick(precision, "precision") or "auto",
                   cache_dir=pick(cache_dir, "export_cache") or "", num_threads=pick(None, "num_threads") or 0,
                   calibration=pick(None, "calibration") or "")
    pipeline = PanopticPipeline(load_runtime(source, runtime=chosen, **options), inference=inference)
    if overrides:
        pipeline.cfg.inference = pipeline.inference_with(overrides)
    return pipeline
