"""Time the parameter-free panoptic head (fuse) per resolution x detections x merge policy.

Writes OUT/head.json (median/mean/p90 ms per setting, linearity in pixels and detections, and, when the
default model is available, the share of the pipeline's post-processing - decoding + mapping + merge of
synthetic COCO-scale network outputs, per fuse resolution - in the shipped model's end-to-end time on its best
runtime at the same size) and OUT/head.png.
Inputs are random but shaped like real ones: smooth class regions, boxes of varied size with many
same-class overlaps, instance-center offsets.
"""
from __future__ import annotations

import argparse
import logging
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from panoptic_ros.data.categories import CategoryMap
from panoptic_ros.modeling.detection_head import DETECTION_STRIDES
from panoptic_ros.panoptic import fuse
from panoptic_ros.panoptic.policies import box_policies
from panoptic_ros.pipeline import PanopticPipeline, build_pipeline, resolve_model_path
from panoptic_ros.utils.json_io import write_json

from .args import DEFAULT_SIZES, image_size

log = logging.getLogger(__name__)

DEFAULT_DETECTIONS = (10, 50, 100)


def _size(text: str) -> tuple[int, int]:
    return image_size(text, minimum=1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", nargs="+", type=_size, default=[_size(s) for s in DEFAULT_SIZES],
                        metavar="WxH", help="image sizes (default: %(default)s)")
    parser.add_argument("--detections", nargs="+", type=int, default=list(DEFAULT_DETECTIONS), metavar="N",
                        help="detection counts (default: 10 50 100)")
    parser.add_argument("--classes", type=int, default=133, help="semantic classes, COCO panoptic: 133")
    parser.add_argument("--things", type=int, default=80, help="of which thing classes (COCO: 80)")
    parser.add_argument("--policies", nargs="+", choices=box_policies(), default=box_policies(),
                        help="box-crop policies fuse() runs on its own (the mask-based ones need network heads)")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per setting")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per setting")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-pipeline", dest="pipeline", action="store_false",
                        help="skip the post-processing share (synthetic COCO-scale outputs through the pipeline "
                        "vs the shipped model end to end on its best runtime)")


def make_scene(width: int, height: int, num_classes: int, num_things: int, detections: int, generator, device):
    """Random inputs for fuse(): smooth logits [C, H, W], boxes/scores/labels [N], offsets [2, H, W]."""

    coarse = torch.randn(1, num_classes, max(1, height // 16), max(1, width // 16), generator=generator) * 3
    logits = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)[0].contiguous()
    short = min(width, height)
    side = torch.exp(torch.empty(detections).uniform_(0, 1, generator=generator) * 2.8) * short * 0.03  # 3%..50%
    aspect = torch.exp(torch.empty(detections).uniform_(-0.7, 0.7, generator=generator))
    wh = torch.stack([side * aspect.sqrt(), side / aspect.sqrt()], dim=1)
    center = torch.rand(detections, 2, generator=generator) * torch.tensor([width, height])
    boxes = torch.cat([center - wh / 2, center + wh / 2], dim=1)
    # few classes -> many same-class overlaps
    labels = torch.randint(0, max(1, min(num_things, 6)), (detections,), generator=generator)
    scores = torch.rand(detections, generator=generator) * 0.7 + 0.3
    offsets = torch.randn(2, height, width, generator=generator) * 8
    thing_mask = torch.arange(num_classes) < num_things
    return (logits.to(device), boxes, scores, labels, offsets.to(device), thing_mask)


def _time(fn, repeats: int, warmup: int, device) -> tuple[list[float], list[float]]:
    """Wall-clock and process CPU milliseconds of each timed call (CPU time shows the cost on a busy machine:
    with one thread it stays near the wall time of an idle one)."""

    sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        sync()
        wall.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - start_cpu) * 1e3)
    return wall, cpu


def _summary(times: tuple[list[float], list[float]]) -> dict:
    wall, cpu = np.asarray(times[0]), np.asarray(times[1])
    return {"median_ms": float(np.median(wall)), "mean_ms": float(wall.mean()),
            "p90_ms": float(np.percentile(wall, 90)),
            "min_ms": float(wall.min()), "cpu_median_ms": float(np.median(cpu)), "repeats": len(wall)}


def linearity(rows: list[dict], key: str = "median_ms") -> dict:
    """How median time scales: a least-squares line in detections per (size, policy) and the time ratio over
    the pixel ratio between the largest and smallest size per (detections, policy) (1.0 = linear)."""

    out = {"per_detection": [], "per_pixel": []}
    sizes = sorted({(r["width"], r["height"]) for r in rows}, key=lambda s: s[0] * s[1])
    policies = sorted({r["policy"] for r in rows})
    for (width, height) in sizes:
        for policy in policies:
            sel = sorted((r for r in rows if (r["width"], r["height"], r["policy"]) == (width, height, policy)),
                         key=lambda r: r["detections"])
            if len(sel) < 2:
                continue
            n = np.array([r["detections"] for r in sel], dtype=float)
            t = np.array([r[key] for r in sel])
            slope, intercept = np.polyfit(n, t, 1)
            fit = slope * n + intercept
            ss = float(((t - t.mean()) ** 2).sum())
            r2 = 1.0 - float(((t - fit) ** 2).sum()) / ss if ss > 0 else 1.0
            out["per_detection"].append({"size": f"{width}x{height}", "policy": policy,
                                         "ms_per_detection": float(slope),
                                         "ms_at_zero_detections": float(intercept), "r2": r2})
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        pixel_ratio = (large[0] * large[1]) / (small[0] * small[1])
        for r_large in (r for r in rows if (r["width"], r["height"]) == large):
            r_small = next((r for r in rows if (r["width"], r["height"]) == small
                            and (r["detections"], r["policy"]) == (r_large["detections"], r_large["policy"])), None)
            if r_small:
                ratio = r_large[key] / r_small[key]
                out["per_pixel"].append({"detections": r_large["detections"], "policy": r_large["policy"],
                                         "sizes": [f"{small[0]}x{small[1]}", f"{large[0]}x{large[1]}"],
                                         "time_ratio": ratio, "pixel_ratio": pixel_ratio,
                                         "scaling": ratio / pixel_ratio})
    return out


class SyntheticRuntime:
    """Network outputs without a network, shaped like the shipped model's at its input size but with
    ``classes`` semantic classes and about ``detections`` boxes surviving NMS: lets the pipeline's own
    post-processing stages (detections, mapping, merge) be timed at COCO scale."""

    name, precision = "synthetic", "fp32"

    def __init__(self, cfg, num_classes: int, num_things: int, detections: int, seed: int, device):
        self.cfg, self.device = cfg, torch.device(device)
        self.categories = CategoryMap.from_coco([{"id": i + 1, "name": f"class{i}", "isthing": int(i < num_things)}
                                                 for i in range(num_classes)])
        self.num_classes, self.num_things, self.detections = num_classes, num_things, detections
        self.generator = torch.Generator().manual_seed(seed)
        self._cache: dict = {}

    def __call__(self, images):
        key = tuple(images.shape)
        if key not in self._cache:
            self._cache[key] = self._outputs(*images.shape[-2:])
        return self._cache[key]

    def _outputs(self, height: int, width: int) -> dict:
        g = self.generator
        h4, w4 = height // 4, width // 4
        coarse = torch.randn(1, self.num_classes, max(1, h4 // 8), max(1, w4 // 8), generator=g) * 3
        semantic = F.interpolate(coarse, size=(h4, w4), mode="bilinear", align_corners=False).contiguous()
        offsets = torch.randn(1, 2, h4, w4, generator=g) * 8
        cls, box, ctr = [], [], []
        for stride in DETECTION_STRIDES:
            hs, ws = -(-height // stride), -(-width // stride)
            cls.append(torch.full((1, self.num_things, hs, ws), -10.0))
            box.append(torch.rand(1, 4, hs, ws, generator=g) * stride)
            ctr.append(torch.full((1, 1, hs, ws), -10.0))
        # 3x the wanted detections at p3, few classes -> many same-class overlaps; NMS keeps about `detections`
        hs, ws = cls[0].shape[-2:]
        n = 3 * self.detections
        ys, xs = torch.randint(0, hs, (n,), generator=g), torch.randint(0, ws, (n,), generator=g)
        labels = torch.randint(0, max(1, min(self.num_things, 6)), (n,), generator=g)
        cls[0][0, labels, ys, xs] = torch.rand(n, generator=g) * 3 + 0.5
        ctr[0][0, 0, ys, xs] = 3.0
        box[0][0, :, ys, xs] = torch.rand(4, n, generator=g) * 60 + 4
        to = {"device": self.device}
        return {"semantic": semantic.to(**to), "offsets": offsets.to(**to), "cls_logits": [c.to(**to) for c in cls],
                "box_regression": [b.to(**to) for b in box], "centerness": [c.to(**to) for c in ctr]}


def _append_run(runs: list, pipeline, image, inference) -> None:
    runs.append(pipeline.run([image], inference=inference))


def postprocess_share(args, device) -> dict:
    """Issue target: at each size, decoding + mapping + merge of synthetic COCO-scale network outputs (args.classes
    classes, max detections) per fuse resolution, as a share of the shipped model's end-to-end time on its best
    runtime (runtime and precision auto) at the same size. Skipped (with the reason) without the model."""


    try:
        model = build_pipeline(resolve_model_path(None), device=str(device))
    except (FileNotFoundError, ValueError) as exc:
        return {"skipped": str(exc)}
    runtime = SyntheticRuntime(model.cfg, args.classes, args.things, model.cfg.inference.max_detections, args.seed,
                               device)
    synthetic = PanopticPipeline(runtime)
    post_stages = ("detections", "mapping", "merge")
    rows = []
    for width, height in args.sizes:
        image = np.random.default_rng(args.seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
        default_inf = model.cfg.inference
        e2e = _summary(_time(partial(model.run, [image], inference=default_inf, timed=False),
                             max(3, args.repeats // 2), args.warmup, device))["median_ms"]
        for resolution in ("image", "input", "output"):
            inf = synthetic.inference_with({"fuse_resolution": resolution})
            runs = []
            _time(partial(_append_run, runs, synthetic, image, inf), args.repeats, args.warmup, device)
            post = [1000 * sum(r.stage_seconds(inf.merge_policy)[k] for k in post_stages) for r in runs[args.warmup:]]
            med = float(np.median(post))
            rows.append({"size": f"{width}x{height}", "fuse_resolution": resolution, "classes": args.classes,
                         "detections": len(runs[-1].detections[0].scores), "policy": inf.merge_policy,
                         "postprocess_median_ms": med, "model_end_to_end_ms": e2e, "share": med / e2e,
                         "stages_ms": {k: float(np.median([1000 * r.stage_seconds(inf.merge_policy)[k]
                                                           for r in runs[args.warmup:]])) for k in post_stages}})
    return {"model": str(resolve_model_path(None)), "model_runtime": model.runtime.name,
            "model_precision": model.runtime.precision, "model_fuse_resolution": model.cfg.inference.fuse_resolution,
            "rows": rows, "target_share": 0.25}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({(r["width"], r["height"]) for r in rows}, key=lambda s: s[0] * s[1])
    policies = sorted({r["policy"] for r in rows})
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for (width, height) in sizes:
        for policy in policies:
            sel = sorted((r for r in rows if (r["width"], r["height"], r["policy"]) == (width, height, policy)),
                         key=lambda r: r["detections"])
            n = [r["detections"] for r in sel]
            label = f"{width}x{height} {policy}"
            axes[0].plot(n, [r["median_ms"] for r in sel], marker="o", label=label)
            axes[1].plot(n, [r["ms_per_megapixel"] for r in sel], marker="o", label=label)
    axes[0].set(xlabel="detections", ylabel="median ms", title="fuse() time")
    axes[1].set(xlabel="detections", ylabel="ms per megapixel", title="time per megapixel (flat = linear in pixels)")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    if not 0 <= args.things <= args.classes or args.classes < 1:
        raise ValueError(f"--things must be within 0..--classes and --classes >= 1 (got {args.things}, {args.classes})")
    if args.repeats < 1 or args.warmup < 0 or min(args.detections) < 0:
        raise ValueError("--repeats must be >= 1, --warmup and --detections >= 0")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {args.device}: CUDA is not available")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(args.seed)
    rows = []
    settings = [(size, n) for size in args.sizes for n in args.detections]
    progress = tqdm(total=len(settings) * len(args.policies), desc="bench head", unit="setting")
    for (width, height), n in settings:
        logits, boxes, scores, labels, offsets, thing_mask = make_scene(width, height, args.classes, args.things, n,
                                                                        generator, device)
        for policy in args.policies:
            call = partial(fuse, logits, boxes, scores, labels, thing_mask=thing_mask, policy=policy,
                           center_offsets=offsets)  # stuff_area_threshold: the config default

            stats = _summary(_time(call, args.repeats, args.warmup, device))
            megapixels = width * height / 1e6
            rows.append({"width": width, "height": height, "megapixels": megapixels, "classes": args.classes,
                         "detections": n, "policy": policy, **stats,
                         "ms_per_megapixel": stats["median_ms"] / megapixels,
                         "ms_per_detection": stats["median_ms"] / n if n else None,
                         "segments": len(call().segments)})
            progress.update()
        del logits, offsets
    progress.close()

    result = {"benchmark": "head", "device": str(device), "threads": torch.get_num_threads(),
              "torch": torch.__version__, "dtype": "float32", "rows": rows, "linearity": linearity(rows),
              "linearity_cpu": linearity(rows, "cpu_median_ms")}
    if args.pipeline:
        try:
            result["pipeline"] = postprocess_share(args, device)
        except Exception as exc:  # a broken or mismatched model must not lose the head numbers
            log.warning("pipeline timing failed: %s", exc)
            result["pipeline"] = {"skipped": f"failed: {exc}"}
    json_path, png_path = out_dir / "head.json", out_dir / "head.png"
    plot(rows, png_path)
    result.update(json=str(json_path), plot=str(png_path))
    write_json(json_path, result)
    print(format_table(result))
    return result


def format_table(result: dict) -> str:
    lines = [f"{'size':>10} {'dets':>5} {'policy':>19} {'median':>8} {'p90':>8} {'cpu':>8} {'ms/MP':>7}"]
    for r in result["rows"]:
        lines.append(f"{r['width']}x{r['height']:<5} {r['detections']:>5} {r['policy']:>19} "
                     f"{r['median_ms']:8.1f} {r['p90_ms']:8.1f} {r['cpu_median_ms']:8.1f} {r['ms_per_megapixel']:7.1f}")
    for r in result["linearity"]["per_pixel"]:
        lines.append(f"pixels x{r['pixel_ratio']:.1f} -> time x{r['time_ratio']:.2f} "
                     f"({r['detections']} dets, {r['policy']})")
    pipe = result.get("pipeline", {})
    for r in pipe.get("rows", []):
        lines.append(f"{r['size']} fuse@{r['fuse_resolution']:6s} {r['classes']} classes {r['detections']} dets: "
                     f"post-processing {r['postprocess_median_ms']:.1f} ms = {100 * r['share']:.0f}% of the model's "
                     f"{r['model_end_to_end_ms']:.1f} ms")
    if pipe.get("skipped"):
        lines.append(f"pipeline: {pipe['skipped']}")
    return "\n".join(lines)
