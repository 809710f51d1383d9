"""Single-shot vs two-stage, side by side in one run: is the single-shot design actually faster?

Same synthetic uint8 image for every system, end to end (uint8 image -> result), research size (ResNet-50,
FPN 256, 133 classes of which 80 things, random weights, 100 detections forced by score threshold 0):
  research   ours, research layout (configs/research.yaml: FPN p2..p7, branches at stride 4), model.predict
  fast       ours, fast layout (configs/research_fast.yaml: FPN p3..p7, one shared decoder at stride 8)
  two_stage  torchvision Mask R-CNN R50-FPN (100 detections, masks) + a Panoptic-FPN semantic branch
             (Kirillov et al. 2019) on its pyramid, run on the same features (backbone output hooked)
  fcos       torchvision FCOS R50-FPN (100 detections): the single-shot detector alone
Ours run through the network runtime given (--runtime, default torch eager, channels_last); the torchvision
models run eager with channels_last weights (--baseline-memory-format). Each repeat runs every system once
(round robin), so load from other processes hits all of them alike; medians are reported, plus each system's
multiply-accumulates (GMAC, independent of the load). Ratios: two_stage / fast (target >= 2.0), fast / fcos
(target <= 1.35), research / fast. A breakdown pass then times the network parts (encoder, FPN, detection
head, branches; ours also with BatchNorm folded) of ours and of torchvision's FCOS, and our pipeline stages.
On a shared machine `--threads 1 --clock cpu` gives stable ratios of the work (not of the parallel wall time).
Writes OUT/compare.json and OUT/compare.png.
"""
from __future__ import annotations

import argparse
import logging
import os
import time
import warnings
from pathlib import Path
from statistics import median

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from panoptic_ros.config import load_config
from panoptic_ros.data.categories import Category, CategoryMap
from panoptic_ros.data.synth import render_scene
from panoptic_ros.modeling import build_model
from panoptic_ros.modeling import detection_head as det
from panoptic_ros.modeling.fold import fold_batchnorm
from panoptic_ros.pipeline import build_pipeline
from panoptic_ros.utils.json_io import write_json

from .args import image_size
from .timing import round_robin

log = logging.getLogger(__name__)

SYSTEMS = ("research", "fast", "two_stage", "fcos", "fast_folded")
DEFAULT_SYSTEMS = SYSTEMS[:4]
TARGETS = {"two_stage_over_fast": (">=", 2.0), "fast_over_fcos": ("<=", 1.35)}
CONFIGS = {"research": "research.yaml", "fast": "research_fast.yaml"}


def _size(text: str) -> tuple[int, int]:
    return image_size(text, minimum=32)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", type=_size, default=(864, 576), metavar="WxH",
                        help="input image size; every system runs at it unresized (default: 864x576)")
    parser.add_argument("--repeats", type=int, default=5, help="timed end-to-end runs per system (default: 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per system first (default: 1)")
    parser.add_argument("--breakdown-repeats", type=int, default=None,
                        help="timed runs of the network parts / stages (default: --repeats; 0 = skip)")
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(DEFAULT_SYSTEMS),
                        help="which systems to run (default: the first four; ratios need their pair). fast_folded: "
                             "the fast layout with BatchNorm folded into the convolutions "
                             "(model.inference_network(), for runtimes that do not fold it themselves)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2; 0 = torch's)")
    parser.add_argument("--classes", type=int, default=133, help="semantic classes (COCO panoptic: 133)")
    parser.add_argument("--things", type=int, default=80, help="of which thing classes (COCO: 80)")
    parser.add_argument("--detections", type=int, default=100, help="detections forced per image (default: 100)")
    parser.add_argument("--runtime", default="torch",
                        help="network runtime of ours (torch = eager, the target's setting; onnxruntime, openvino)")
    parser.add_argument("--precision", default="fp32", help="network precision of ours: fp32 | bf16 | fp16 | auto")
    parser.add_argument("--fuse-resolution", choices=("image", "input", "output"), default=None,
                        help="where our panoptic head runs (default: the config's, inference.fuse_resolution)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic scene and the random weights")
    parser.add_argument("--baseline-memory-format", choices=("channels_last", "contiguous"), default="channels_last",
                        help="memory format of the torchvision baselines' weights (default: channels_last, the "
                             "format our torch runtime runs in, so the comparison is of designs, not layouts)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall: elapsed seconds (the target's measure); cpu: this process's CPU seconds, "
                             "which other processes on a shared machine disturb far less (use with --threads 1 "
                             "for stable design ratios)")


# ---------------------------------------------------------------------------------------------- systems
def research_categories(classes: int, things: int):
    """A COCO-panoptic-shaped category map: ``things`` thing classes first, then stuff."""

    if not 1 <= things < classes:
        raise ValueError(f"need 1 <= things < classes, got {things} things of {classes}")
    return CategoryMap([Category(i + 1, f"class{i + 1}", i < things) for i in range(classes)])


def build_ours(layout: str, categories, width: int, height: int, detections: int, fuse_resolution: str | None = None):
    """Our research-size model in ``layout`` (random weights) and inference settings that force
    ``detections`` detections at the given input size (no resize)."""


    config = Path(__file__).resolve().parent.parent / "configs" / CONFIGS[layout]
    cfg = load_config(config, ["model.pretrained_backbone=false", "inference.device=cpu",
                               "inference.score_threshold=0.0", f"inference.max_detections={detections}",
                               f"inference.input_size={min(width, height)}",
                               f"inference.max_input_size={max(width, height)}"]
                      + ([f"inference.fuse_resolution={fuse_resolution}"] if fuse_resolution else []))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # frozen BatchNorm without ImageNet weights: fine for timing
        return build_model(cfg, categories).eval()


def _group_norm(channels: int):
    return nn.GroupNorm(32 if channels % 32 == 0 else 1, channels)


def panoptic_fpn_semantic_branch(in_channels: int = 256, channels: int = 128, num_classes: int = 133):
    """Panoptic-FPN's semantic branch (Kirillov et al. 2019): from each of P2..P5, (conv3x3-GN-ReLU + 2x
    bilinear upsample) stages until stride 4 (one conv without upsampling for P2), summed, 1x1 conv to the
    classes, 4x bilinear upsampling to the input."""

    class SemanticFPN(nn.Module):
        def __init__(self):
            super().__init__()
            self.scales = nn.ModuleList()
            for level in range(4):  # P2 (stride 4) .. P5 (stride 32)
                stages = []
                for k in range(max(1, level)):
                    stages.append(nn.Sequential(nn.Conv2d(in_channels if k == 0 else channels, channels, 3,
                                                          padding=1, bias=False),
                                                _group_norm(channels), nn.ReLU(inplace=True)))
                    if level > 0:
                        stages.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
                self.scales.append(nn.Sequential(*stages))
            self.predictor = nn.Conv2d(channels, num_classes, 1)

        def forward(self, features: list):
            size = features[0].shape[-2:]
            out = None
            for block, x in zip(self.scales, features):
                y = block(x)
                if y.shape[-2:] != size:  # odd sizes: the 2x stages overshoot or undershoot by a pixel
                    y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
                out = y if out is None else out + y
            return F.interpolate(self.predictor(out), scale_factor=4, mode="bilinear", align_corners=False)

    return SemanticFPN()


class TwoStage:
    """Mask R-CNN R50-FPN with the Panoptic-FPN semantic branch on the same pyramid (backbone output hooked)."""

    def __init__(self, width: int, height: int, detections: int, classes: int, memory_format=None):

        self.model = torchvision.models.detection.maskrcnn_resnet50_fpn(
            weights=None, weights_backbone=None, box_score_thresh=0.0, box_detections_per_img=detections,
            min_size=min(width, height), max_size=max(width, height), num_classes=91).eval()
        self.semantic = panoptic_fpn_semantic_branch(num_classes=classes).eval()
        if memory_format is not None:
            self.model.to(memory_format=memory_format)
            self.semantic.to(memory_format=memory_format)
        self._features = None
        self.model.backbone.register_forward_hook(self._keep)

    def _keep(self, module, inputs, output) -> None:
        self._features = output

    def __call__(self, image) -> tuple:
        with torch.inference_mode():
            x = _to_float(image)
            detections = self.model([x])
            features = [self._features[k] for k in ("0", "1", "2", "3")]  # P2..P5
            self._features = None
            semantic = self.semantic(features)
        return detections, semantic


class FCOS:
    """torchvision FCOS R50-FPN."""

    def __init__(self, width: int, height: int, detections: int, memory_format=None):

        self.model = torchvision.models.detection.fcos_resnet50_fpn(
            weights=None, weights_backbone=None, score_thresh=0.0, detections_per_img=detections,
            min_size=min(width, height), max_size=max(width, height)).eval()
        if memory_format is not None:
            self.model.to(memory_format=memory_format)

    def __call__(self, image) -> list:
        with torch.inference_mode():
            return self.model([_to_float(image)])


def _to_float(image):
    """uint8 HxWx3 -> float [3, H, W] in 0..1 (torchvision detectors' input; part of their timed path)."""
    return torch.from_numpy(image).permute(2, 0, 1).float().div_(255.0)


class Ours:
    """One of our layouts end to end: a pipeline on the given runtime (torch, onnxruntime, openvino)."""

    def __init__(self, model, runtime: str, precision: str):
        self.model = model
        self.inference = model.cfg.inference
        self.inference.precision = precision
        self.pipeline = build_pipeline(model, runtime=runtime, precision=precision, device="cpu",
                                       inference=self.inference)

    def __call__(self, image):
        return self.pipeline.predict([image])

    def staged(self, image):
        """One timed pipeline run: (detections per image, {stage: seconds})."""
        run = self.pipeline.run([image], timed=True)
        return [len(d.scores) for d in run.detections], run.seconds


# ---------------------------------------------------------------------------------------------- parts
def our_parts(model, batch) -> dict:
    """Callables timing our network parts on a prepared batch (each runs its prerequisites untimed once)."""


    with torch.inference_mode():
        feats = model.backbone(batch)
        pyramid = model.fpn(feats)
    levels = [pyramid[n] for n in det.DETECTION_LEVELS]
    if model.layout == "fast":
        def branches():
            return model.decoder(pyramid)
    else:
        def branches():
            return model.semantic_head(pyramid), model.center_head(pyramid)
    return {"encoder": lambda: model.backbone(batch), "fpn": lambda: model.fpn(feats),
            "detection_head": lambda: model.detection_head(levels), "branches": branches}


def fcos_parts(fcos, image) -> dict:

    with torch.inference_mode():
        images, _ = fcos.transform([_to_float(image)])
        batch = images.tensors
        body = fcos.backbone.body(batch)
        pyramid = fcos.backbone.fpn(body)
    levels = list(pyramid.values())
    return {"encoder": lambda: fcos.backbone.body(batch), "fpn": lambda: fcos.backbone.fpn(body),
            "detection_head": lambda: fcos.head(levels)}


def count_gmac(call) -> float:
    """Multiply-accumulates (10^9) of one call, counted by torch's FlopCounterMode (convolutions, matrix
    products, ...): a measure of the work that does not depend on the load of a shared machine."""

    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        call()
    return counter.get_total_flops() / 2e9


# ---------------------------------------------------------------------------------------------- run
def run(args) -> dict:

    if args.repeats < 1 or args.warmup < 0:
        raise ValueError("--repeats must be >= 1 and --warmup >= 0")
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return _run(args)
    finally:
        torch.set_num_threads(threads)


def _run(args) -> dict:


    breakdown_repeats = args.repeats if args.breakdown_repeats is None else args.breakdown_repeats
    width, height = args.size
    torch.manual_seed(args.seed)
    image, _, _ = render_scene(np.random.default_rng(args.seed), width, height)
    categories = research_categories(args.classes, args.things)
    load_before = os.getloadavg()

    systems, ours = {}, {}
    for layout in ("research", "fast"):
        if layout in args.systems or (layout == "fast" and "fast_folded" in args.systems):
            model = build_ours(layout, categories, width, height, args.detections, args.fuse_resolution)
            if layout in args.systems:
                ours[layout] = Ours(model, args.runtime, args.precision)
                systems[layout] = ours[layout]
            if layout == "fast" and "fast_folded" in args.systems:
                ours["fast_folded"] = Ours(model.inference_network(), args.runtime, args.precision)
                systems["fast_folded"] = ours["fast_folded"]
    # weights in channels_last make torch's convolutions run channels_last whatever the input's format
    memory_format = torch.channels_last if args.baseline_memory_format == "channels_last" else None
    if "two_stage" in args.systems:
        systems["two_stage"] = TwoStage(width, height, args.detections, args.classes, memory_format)
    if "fcos" in args.systems:
        systems["fcos"] = FCOS(width, height, args.detections, memory_format)

    # detections forced: check every system returns exactly that many
    counts = {}
    for name, system in systems.items():
        if name in ours:
            counts[name] = ours[name].staged(image)[0][0]
        elif name == "two_stage":
            counts[name] = len(system(image)[0][0]["boxes"])
        else:
            counts[name] = len(system(image)[0]["boxes"])
    wrong = {k: v for k, v in counts.items() if v != args.detections}
    if wrong:
        raise RuntimeError(f"expected {args.detections} detections from every system (score threshold 0), got "
                           f"{wrong}")

    log.info("compare %dx%d: %d repeats of %s (round robin)", width, height, args.repeats, ", ".join(systems))
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    times = round_robin({k: (lambda s=s: s(image)) for k, s in systems.items()}, args.repeats, args.warmup,
                              clock)
    results = {name: {"seconds_median": median(ts), "seconds_min": min(ts), "seconds": ts,
                      "detections": counts[name],
                      "gmac": (count_gmac(lambda s=systems[name]: s(image))
                               if name not in ours or args.runtime == "torch" else None)}
               for name, ts in times.items()}
    for name in ours:
        results[name].update(layout=ours[name].model.layout, output_stride=ours[name].model.output_stride,
                             padded_input=list(_padded(ours[name].model, height, width)),
                             parameters=sum(p.numel() for p in ours[name].model.parameters()))

    stages, parts = {}, {}
    if breakdown_repeats > 0:
        calls = {}
        for name, o in ours.items():
            if name == "fast_folded":
                continue
            batch = torch.randn(1, 3, *_padded(o.model, height, width))
            calls.update({f"{name}/{part}": c for part, c in our_parts(o.model, batch).items()})
            calls[f"{name}/network"] = (lambda m=o.model, b=batch: m.forward_raw(b))
            folded = fold_batchnorm(o.model)
            calls[f"{name}/network_folded_bn"] = (lambda m=folded, b=batch: m.forward_raw(b))
        if "fcos" in systems:
            calls.update({f"fcos/{part}": c for part, c in fcos_parts(systems["fcos"].model, image).items()})
        part_times = round_robin(calls, breakdown_repeats, 0, clock)
        for key, ts in part_times.items():
            name, part = key.split("/")
            parts.setdefault(name, {})[part] = median(ts)
        for name, o in ours.items():
            runs = [o.staged(image)[1] for _ in range(breakdown_repeats)]
            stages[name] = {stage: median([r.get(stage, 0.0) for r in runs]) for stage in runs[0]}

    # ratios of medians (the target's measure) and of minima (the least disturbed run of each system: on a
    # machine shared with bursty jobs the better estimate of the undisturbed ratio)
    ratios, ratios_min = {}, {}
    med = {k: v["seconds_median"] for k, v in results.items()}
    low = {k: v["seconds_min"] for k, v in results.items()}
    for a, b in (("two_stage", "fast"), ("fast", "fcos"), ("research", "fast"), ("two_stage", "research"),
                 ("research", "fcos"), ("two_stage", "fast_folded"), ("fast_folded", "fcos")):
        if a in med and b in med:
            ratios[f"{a}_over_{b}"] = med[a] / med[b]
            ratios_min[f"{a}_over_{b}"] = low[a] / low[b]

    def met(value: float, op: str, bound: float) -> bool:
        return value >= bound if op == ">=" else value <= bound

    targets = {k: {"target": f"{op} {v}", "value": ratios[k], "met": met(ratios[k], op, v),
                   "value_min": ratios_min[k], "met_min": met(ratios_min[k], op, v)}
               for k, (op, v) in TARGETS.items() if k in ratios}

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out / "compare.json", out / "compare.png"
    result = {"benchmark": "compare", "size": [width, height], "threads": torch.get_num_threads(),
              "torch": torch.__version__, "runtime": args.runtime, "precision": args.precision,
              "fuse_resolution": next((o.inference.fuse_resolution for o in ours.values()), None),
              "baseline_memory_format": args.baseline_memory_format, "clock": args.clock,
              "repeats": args.repeats, "warmup": args.warmup, "classes": args.classes, "things": args.things,
              "forced_detections": args.detections, "systems": results,
              "ratios": ratios, "ratios_min": ratios_min, "targets": targets,
              "parts_seconds": parts, "stages_seconds": stages,
              "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
              "notes": ["random weights; torchvision detectors built with weights_backbone=None use eval-mode "
                        "BatchNorm2d in the encoder (one pass per layer), ours FrozenBatchNorm2d (two passes; "
                        "network_folded_bn shows ours with it folded into the convolutions)",
                        "two_stage has no panoptic merging step; ours includes the panoptic head",
                        "ours run through the torch runtime (channels_last); the baselines' weights are in "
                        "baseline_memory_format",
                        "stages_seconds are the pipeline's own wall-clock stage timer whatever --clock is",
                        "timings on a shared machine: compare ratios from one run, and GMAC (load independent)"],
              "json": str(json_path), "plot": str(png_path)}
    plot(result, png_path)
    write_json(json_path, result)
    print(format_table(result))
    return result


def _padded(model, height: int, width: int) -> tuple[int, int]:
    d = model.cfg.model.size_divisibility
    return (-(-height // d) * d, -(-width // d) * d)


def format_table(result: dict) -> str:
    lines = [f"compare {result['size'][0]}x{result['size'][1]}, {result['threads']} threads, "
             f"{result['repeats']} repeats, {result['clock']} clock (median s, min s, detections, work)"]
    for name, r in result["systems"].items():
        work = f"{r['gmac']:7.1f} GMAC" if r["gmac"] is not None else ""
        lines.append(f"  {name:>10} {r['seconds_median']:8.3f} {r['seconds_min']:8.3f} {r['detections']:5d} {work}")
    lines.append(f"  {'ratio':>24} {'median':>7} {'min':>7}")
    for key, value in result["ratios"].items():
        target = result["targets"].get(key)
        mark = (f"  (target {target['target']}: median {'met' if target['met'] else 'NOT met'}, "
                f"min {'met' if target['met_min'] else 'NOT met'})" if target else "")
        lines.append(f"  {key:>24} {value:7.2f} {result['ratios_min'][key]:7.2f}{mark}")
    for name, parts in result["parts_seconds"].items():
        lines.append(f"  parts {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in parts.items()))
    for name, stages in result["stages_seconds"].items():
        lines.append(f"  stages {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in stages.items()))
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 5.5))
    names = list(result["systems"])
    med = [result["systems"][n]["seconds_median"] for n in names]
    low = [result["systems"][n]["seconds_min"] for n in names]
    bars = ax.bar(names, med, color=["tab:gray" if n in ("two_stage", "fcos") else "tab:blue" for n in names])
    ax.scatter(names, low, color="k", marker="_", s=200, label="min", zorder=3)
    for bar, value in zip(bars, med):
        ax.annotate(f"{value:.2f} s", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom",
                    fontsize=8)
    ratio_text = "ratio: median, min\n" + "\n".join(f"{k}: {v:.2f}, {result['ratios_min'][k]:.2f}"
                                                     for k, v in result["ratios"].items())
    ax.set_xlabel(ratio_text, fontsize=8, family="monospace", loc="left")
    ax.set(ylabel="seconds (median)", title=f"end to end at {result['size'][0]}x{result['size'][1]}, "
           f"{result['forced_detections']} detections, {result['threads']} threads")
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(axis="y", alpha=0.3)

    parts = result["parts_seconds"]
    if parts:
        pnames = list(parts)
        keys = ["encoder", "fpn", "detection_head", "branches"]
        bottom = [0.0] * len(pnames)
        for key in keys:
            vals = [parts[n].get(key, 0.0) for n in pnames]
            bx.bar(pnames, vals, bottom=bottom, label=key)
            bottom = [b + v for b, v in zip(bottom, vals)]
        bx.set(ylabel="seconds (median)", title="network parts")
        bx.legend(fontsize=8)
        bx.grid(axis="y", alpha=0.3)
    else:
        bx.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
