"""The one configuration object of panoptic_ros.

Training, evaluation, the CLI and the ROS node all read these dataclasses; each field carries its
help text and its valid range or choices in ``metadata`` so the node can declare ROS parameters with
descriptors and validate them from the same source. No default is written anywhere else.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..registry import BACKBONES, MERGE_POLICIES, RUNTIMES, Choices

PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
FUSE_RESOLUTIONS = ("image", "input", "output")
# MERGE_POLICIES and BACKBONES (imported above) are registries: their names come from the modules that
# define the entries (panoptic/policies.py, modeling/backbone.py) and from plug-ins; see panoptic_ros/registry.py.


def param(default: Any, help: str, *, choices: tuple | None = None, range: tuple | None = None,
          runtime: bool = False, ros: bool = False) -> Any:
    """A config field with its documentation.

    choices: allowed values; range: (min, max) inclusive for numbers;
    runtime: may change while the node runs; ros: exposed as a ROS parameter of panoptic_node.
    """
    meta = {"help": help, "choices": choices, "range": range, "runtime": runtime, "ros": ros}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class ModelConfig:
    backbone: str = param("resnet18", "encoder network: a registered backbone (torchvision ResNet / "
                          "MobileNetV3 built in)", choices=Choices(BACKBONES))
    pretrained_backbone: bool = param(False, "initialise the encoder with torchvision ImageNet weights")
    frozen_bn: bool = param(True, "replace encoder BatchNorm with FrozenBatchNorm2d, as the research does")
    fpn_channels: int = param(256, "FPN width (256 in the research; smaller for CPU models)", range=(8, 1024))
    branch_channels: int = param(128, "width of the semantic and instance-center branches", range=(8, 1024))
    det_head_convs: int = param(4, "conv layers in each detection tower (FCOS)", range=(0, 8))
    size_divisibility: int = param(128, "inputs are padded to a multiple of this (stride of p7)", range=(1, 1024))
    layout: str = param("research", "network layout: research (FPN p2..p7, separate semantic and center branches "
                        "at stride 4) or fast (FPN p3..p7 as FCOS, one shared light semantic/center decoder, "
                        "outputs at stride 8; about 2x faster at research size)", choices=("research", "fast"))
    freeze: list = param([], "parts not trained (weights fixed, BatchNorm in eval mode): any of backbone, fpn, "
                         "detection_head (e.g. [backbone, fpn, detection_head] trains only the semantic and center "
                         "branches of a converted COCO detector)")
    levelness: bool = param(False, "levelness head: one conv on the concatenated box-tower features of all levels "
                            "predicting which pyramid level's box each pixel uses (0 = background); dense_iou uses "
                            "it, without it dense_iou takes the max IoU over levels")
    borderness: bool = param(False, "border-ness head: a 5th regression output predicting sqrt(min(l,r)/max(l,r) * "
                             "min(t,b)/max(t,b)) measured to the instance mask's borders (paste_borderness needs it)")
    quality: str = param("centerness", "detection quality multiplied into the score before NMS: centerness (FCOS) "
                         "or borderness (builds the border-ness head)", choices=("centerness", "borderness"))
    mask_head: bool = param(False, "RoI mask head: MultiScaleRoIAlign on the pyramid + a small FCN, per-class 28x28 "
                            "masks of the final detections (mask_heuristic needs it; computed only for that policy)")
    init_weights: str = param("", "training only: a checkpoint whose tensors of the same name and shape initialise "
                              "the model (fine-tuning; parts it lacks, e.g. new heads, start fresh)")
    anchor_point: str = param("center", "where a detection location's box distances are measured from: center "
                              "(j*s + s/2, i*s + s/2) of its feature cell (the research) or corner (j*s, i*s), as "
                              "torchvision's FCOS (set by `panoptic convert --from torchvision-fcos`)",
                              choices=("center", "corner"))


@dataclass
class DataConfig:
    train: str = param("", "training dataset folder in COCO panoptic layout (see README)")
    val: str = param("", "validation dataset folder in COCO panoptic layout")
    min_size: int = param(576, "training resize: shorter side", range=(16, 4096))
    max_size: int = param(864, "training resize: longer side limit", range=(16, 8192))
    hflip: bool = param(True, "random horizontal flip during training")
    scale_jitter: list = param([1.0, 1.0], "training: after the resize, scale by a random factor in [min, max] "
                               "(e.g. [0.5, 2.0] for Cityscapes as the research); [1, 1] = off")
    crop_size: list = param([0, 0], "training: random crop [height, width] after scaling (smaller images are padded "
                            "with void); [0, 0] = no crop")
    batch_size: int = param(4, "images per batch per process", range=(1, 1024))
    num_workers: int = param(2, "data loader worker processes", range=(0, 64))
    pin_memory: bool = param(True, "page-locked batches for faster host-to-GPU copies (CUDA only; ignored on CPU)")
    persistent_workers: bool = param(True, "keep data loader workers alive between epochs (num_workers > 0)")


@dataclass
class LossConfig:
    lambda_o: float = param(0.5, "weight of the detection loss (focal + box regression + centerness)", range=(0.0, 1e6))
    lambda_s: float = param(0.5, "weight of the semantic cross-entropy", range=(0.0, 1e6))
    lambda_i: float = param(0.01, "weight of the instance-center offset L1", range=(0.0, 1e6))
    focal_alpha: float = param(0.25, "sigmoid focal loss alpha", range=(0.0, 1.0))
    focal_gamma: float = param(2.0, "sigmoid focal loss gamma", range=(0.0, 10.0))
    lambda_level: float = param(1.0, "weight of the levelness cross-entropy (model.levelness)", range=(0.0, 1e6))
    lambda_mask: float = param(1.0, "weight of the RoI mask binary cross-entropy (model.mask_head)", range=(0.0, 1e6))
    borderness_target: str = param("mask", "border-ness head target: mask (distances to the instance mask's borders, "
                                   "the research's border-ness) or box (to the box's sides, i.e. a retrained "
                                   "centerness; for equal-budget comparisons)", choices=("mask", "box"))


@dataclass
class SolverConfig:
    optimizer: str = param("adamw", "optimizer", choices=("adam", "adamw"))
    lr: float = param(1e-4, "base learning rate", range=(0.0, 10.0))
    weight_decay: float = param(1e-4, "weight decay", range=(0.0, 1.0))
    epochs: int = param(50, "training epochs", range=(1, 100000))
    lr_steps: list = param([35, 45], "epochs at which the learning rate is multiplied by lr_gamma")
    lr_gamma: float = param(0.1, "step decay factor", range=(0.0, 1.0))
    grad_clip: float = param(10.0, "max gradient norm (0 = off)", range=(0.0, 1e6))
    amp: bool = param(True, "mixed precision when training on CUDA (ignored on CPU)")
    seed: int = param(0, "random seed", range=(0, 2**31 - 1))
    output_dir: str = param("runs/panoptic", "checkpoints, logs and TensorBoard events go here")
    log_every: int = param(10, "iterations between log lines", range=(1, 100000))
    accumulate: int = param(1, "gradient accumulation: batches per optimizer step (effective batch = "
                            "data.batch_size x accumulate x processes)", range=(1, 1024))
    channels_last: bool = param(False, "NHWC memory format for the network during training (faster convolutions "
                                "with CUDA AMP on tensor-core GPUs)")
    compile: str = param("", "torch.compile the training network with this backend (inductor on CUDA; empty = off)",
                         choices=("", "inductor", "aot_eager", "eager"))
    dist_timeout: float = param(1800.0, "multi-process training: seconds a collective (gradient all-reduce, "
                                "broadcast) may wait for the other processes before the job fails", range=(1.0, 1e7))
    wait_timeout: float = param(86400.0, "multi-process training: seconds the other processes wait for rank 0 while "
                                "it validates and writes checkpoints", range=(1.0, 1e7))


@dataclass
class InferenceConfig:
    device: str = param("auto", "auto | cpu | cuda | cuda:N", ros=True)
    runtime: str = param("auto", "network runtime: auto (the fastest installed for the device, measured per CPU "
                         "class: onnxruntime on AVX2 / AVX-512 CPUs, openvino where the CPU runs bf16 natively; "
                         "torch on CUDA), or a registered runtime (torch, onnxruntime, openvino)",
                         choices=Choices(RUNTIMES, ("auto",)), ros=True)
    precision: str = param("auto", "network precision: auto (the fastest that passes the agreement test for the "
                           "runtime and CPU class / device: int8 on AVX2 CPUs, bf16 with AMX / AVX-512 BF16), fp32, "
                           "bf16 (CPUs with bf16 support), fp16 (CUDA), int8 (onnxruntime / openvino on CPU: "
                           "post-training quantization, calibrated once per checkpoint and cached)",
                           choices=PRECISIONS, ros=True)
    num_threads: int = param(0, "CPU threads of the network (torch, onnxruntime, openvino alike; idle threads "
                             "sleep instead of spinning); 0 = all cores", range=(0, 1024), ros=True)
    calibration: str = param("", "int8: folder of images to calibrate the quantization on (passed through the "
                             "pipeline's own preprocessing); empty = 32 synthetic scenes made on the fly")
    export_cache: str = param("", "folder of cached exports (.onnx / OpenVINO) keyed by checkpoint hash; "
                              "empty = ~/.cache/panoptic_ros/exports")
    max_input_pixels: int = param(4096 * 4096, "frames declaring more pixels (height x width; for "
                                  "PNG / JPEG read from the header before decoding) are refused and counted; "
                                  "0 = no limit", range=(0, 2**40), ros=True)
    input_size: int = param(0, "network input: shorter side in pixels (longer side keeps aspect); 0 = the "
                            "model's own (its checkpoint's setting, else its training data.min_size)",
                            range=(0, 4096), ros=True)
    max_input_size: int = param(0, "network input: longer side limit; 0 = the model's own (else data.max_size)",
                                range=(0, 8192))
    score_threshold: float = param(0.4, "minimum detection score", range=(0.0, 1.0), runtime=True, ros=True)
    nms_threshold: float = param(0.6, "IoU threshold of class-wise NMS", range=(0.0, 1.0), runtime=True)
    max_detections: int = param(100, "detections kept per image after NMS", range=(1, 10000), runtime=True)
    pre_nms_top_k: int = param(1000, "candidates per pyramid level before NMS", range=(1, 100000))
    merge_policy: str = param("closest_center", "how same-class box overlaps are resolved",
                              choices=Choices(MERGE_POLICIES), runtime=True, ros=True)
    stuff_area_threshold: int = param(4096, "stuff segments smaller than this (pixels) become unknown",
                                      range=(0, 10**8), runtime=True, ros=True)
    fuse_resolution: str = param("input", "where the panoptic head runs: image (exact: every class logit "
                                 "upsampled to the image), input (the network input size, only the deciding "
                                 "classes upsampled, label map resized nearest; PQ within 0.3 of image), output "
                                 "(the network's output grid, fastest, about 2-3 PQ lower)", choices=FUSE_RESOLUTIONS,
                                 runtime=True, ros=True)
    unknown_undetected_things: bool = param(False, "thing pixels no detection covers become unknown (0) "
                                            "instead of the best stuff class", runtime=True, ros=True)
    stuff_area_fraction: float = param(0.0, "when > 0, replaces stuff_area_threshold by this fraction of the "
                                       "image's pixels (e.g. 1/256 for street scenes)", range=(0.0, 1.0),
                                       runtime=True, ros=True)
    score_quality: str = param("model", "detection quality multiplied into the score before NMS: model (its "
                               "model.quality), centerness, or borderness (needs the border-ness head)",
                               choices=("model", "centerness", "borderness"), runtime=True)
    dense_iou_sigma: float = param(0.3, "dense_iou: a pixel joins a detection's mask when IoU(its predicted box, "
                                   "the detection) x P(class) exceeds this", range=(0.0, 1.0), runtime=True, ros=True)
    dense_iou_levelness: bool = param(True, "dense_iou: take each pixel's box from the level the levelness head "
                                      "picks (when the model has it); false = the max IoU over levels",
                                      runtime=True, ros=True)
    paste_overlap: float = param(0.3, "paste_borderness: a mask whose overlap with pixels already taken exceeds "
                                 "this fraction of its area is dropped", range=(0.0, 1.0), runtime=True, ros=True)
    mask_heuristics: str = param("advanced", "mask_heuristic: advanced (per-pixel mask x score decides overlaps, "
                                 "unclaimed thing pixels fall back to stuff above mask_alpha) or baseline (overlaps "
                                 "by instance score, unclaimed thing pixels void)", choices=("advanced", "baseline"),
                                 runtime=True, ros=True)
    mask_alpha: float = param(0.25, "mask_heuristic advanced: unclaimed thing pixels take the best stuff class when "
                              "its probability exceeds this, else unknown", range=(0.0, 1.0), runtime=True, ros=True)
    mask_threshold: float = param(0.5, "mask_heuristic: a pixel belongs to an instance mask when its pasted mask "
                                  "probability exceeds this", range=(0.0, 1.0), runtime=True, ros=True)
    # tracking (panoptic_ros/tracking): stable segment ids across frames
    tracking: bool = param(True, "stable instance ids across frames: thing segments are associated with tracks (mask "
                           "IoU + class, optimal assignment), stuff classes keep fixed ids; false = ids renumbered "
                           "every frame", runtime=True, ros=True)
    track_max_age: float = param(1.0, "tracking: a track not seen for this many seconds (frame stamps) ends; its id "
                                 "is never reused", range=(0.0, 3600.0), runtime=True, ros=True)
    track_min_iou: float = param(0.2, "tracking: minimum mask IoU between a segment and a track's last mask (at "
                                 "its predicted position) to continue the track", range=(0.0, 1.0), runtime=True,
                                 ros=True)
    track_motion: bool = param(True, "tracking: predict each track's position with a constant velocity from the "
                               "frame stamps (dropped frames and camera motion keep their tracks)", runtime=True,
                               ros=True)
    track_iou_pixels: int = param(10000, "tracking: masks are compared on a regular grid of about this many pixels "
                                  "(a stride in each direction); 0 = every pixel", range=(0, 10**8), runtime=True)
    track_reid: bool = param(True, "tracking: re-identification: a new segment that matches no live track is "
                             "compared with recently lost tracks (class, predicted position, colour) and takes the "
                             "old id on a confident, unambiguous match (needs the image)", runtime=True, ros=True)
    track_reid_age: float = param(6.0, "tracking: seconds a lost track stays in the re-identification memory "
                                  "(counted from when it was last seen)", range=(0.0, 3600.0), runtime=True, ros=True)
    track_reid_similarity: float = param(0.6, "tracking: minimum appearance similarity (Bhattacharyya coefficient "
                                         "of smoothed colour histograms) to re-identify", range=(0.0, 1.0),
                                         runtime=True, ros=True)
    track_reid_distance: float = param(1.0, "tracking: re-identification position gate: the reappearing segment's "
                                       "centre lies within this x the object's size (at least 5 % of the image "
                                       "width) x (1 + seconds lost) of the lost track's possible path (from where "
                                       "it was last seen to where its own motion takes it, with the camera's "
                                       "motion)", range=(0.0, 100.0),
                                       runtime=True, ros=True)
    track_reid_margin: float = param(0.15, "tracking: a re-identification is refused (new id) when a second "
                                     "candidate's cost (0..1) is within this of the best: wrong merges are worse "
                                     "than new ids", range=(0.0, 1.0), runtime=True, ros=True)
    track_reid_depth: float = param(0.3, "tracking with depth: a re-identified segment's mean depth differs from "
                                    "the lost track's by at most this fraction of it; 0 = depth not used",
                                    range=(0.0, 10.0), runtime=True, ros=True)
    track_reid_min_frames: int = param(3, "tracking: tracks seen in fewer frames are neither re-identified nor "
                                       "remembered (a network's short-lived false segments would otherwise be "
                                       "rivals that make real returns ambiguous); 1 = every track (with a "
                                       "track_reid_margin of 0.3-0.5 where a wrong merge is costly: those rivals "
                                       "also blocked wrong revivals)",
                                       range=(1, 1000), runtime=True, ros=True)
    track_reid_handback: float = param(3.0, "tracking with re-identification: seconds after a revival during which "
                                       "a later segment that fits the revived lost track clearly better (by "
                                       "track_reid_margin) takes its id back, and the track revived with it gets a "
                                       "new id; 0 = revivals are final", range=(0.0, 60.0), runtime=True, ros=True)
    track_reid_memory: int = param(200, "tracking: most lost tracks kept for re-identification (the oldest go "
                                   "first)", range=(0, 100000), runtime=True)


@dataclass
class NodeConfig:
    model: str = param("", "model checkpoint (.safetensors); empty = the shipped default model", ros=True)
    publish_overlay: bool = param(False, "publish ~/overlay even with no subscriber", runtime=True, ros=True)
    overlay_alpha: float = param(0.5, "tint strength of the overlay", range=(0.0, 1.0), runtime=True, ros=True)
    palette: str = param("", "YAML file {class name: [r, g, b]} of display colours for ~/semantic_color, "
                         "~/panoptic_color, ~/overlay and ~/labels; unnamed classes keep the model's colour; "
                         "empty = the model's class colours", ros=True)
    image_transport: str = param("raw", "raw: subscribe image; compressed: image/compressed",
                                 choices=("raw", "compressed"), ros=True)
    qos_reliability: str = param("auto", "subscription reliability; auto matches the publishers",
                                 choices=("auto", "reliable", "best_effort"), ros=True)
    qos_depth: int = param(1, "subscription queue depth (keep last)", range=(1, 100), ros=True)
    diagnostics_period: float = param(1.0, "seconds between /diagnostics messages", range=(0.1, 60.0), ros=True)
    # several cameras, depth (docs/robot.md)
    images: list = param([], "several cameras in one node: input image topics, each TOPIC or NAME=TOPIC (outputs "
                         "under ~/<name>/..., name derived from the topic when not given); empty = the single "
                         "topic `image` with outputs under ~/", ros=True)
    max_batch: int = param(0, "several cameras: most frames per network batch (0 = every camera with a pending "
                           "frame); cameras beyond it are served round-robin in the next batch", range=(0, 64),
                           ros=True)
    use_depth: bool = param(False, "subscribe depth (16UC1 mm / 32FC1 m, registered to the colour image) and "
                            "camera_info (per camera <name>/depth, <name>/camera_info) and publish ~/instances_3d",
                            ros=True)
    depth_tolerance: float = param(0.05, "depth: a colour frame takes the depth image whose stamp is nearest within "
                                   "this many seconds (camera_info: the newest)", range=(0.0, 10.0), ros=True)
    max_depth: float = param(10.0, "depth: points farther than this (metres) are ignored", range=(0.01, 1000.0),
                             runtime=True, ros=True)


@dataclass
class PanopticConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    node: NodeConfig = field(default_factory=NodeConfig)
