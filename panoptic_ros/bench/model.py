"""End-to-end timing of the model pipeline, stage by stage: input numpy image -> PanopticResult.

Stages (median ms over --repeats, warm-up excluded): preprocess (resize, normalise, pad), network, detection
post-processing (decode + NMS), upsample (semantic logits and center offsets to the image resolution), fuse
(the parameter-free panoptic head), and the total of model.predict() timed on its own. Reports the fraction of
the total spent in fuse (the head must stay under 10%). Input: a synthetic scene at each size, so detections are
realistic. Writes OUT/model.json and OUT/model.png.
"""
from __future__ import annotations

import argparse
import logging
import time
from contextlib import nullcontext
from pathlib import Path

from .args import DEFAULT_SIZES, image_size

log = logging.getLogger(__name__)


def _size(text: str) -> tuple[int, int]:
    return image_size(text, minimum=32)

STAGES = ("preprocess", "network", "detections", "upsample", "fuse")




def add_arguments(parser: argparse.ArgumentParser) -> None:
    from panoptic_ros.config.schema import MERGE_POLICIES

    parser.add_argument("--model", help="checkpoint (default: the shipped model)")
    parser.add_argument("--sizes", nargs="+", type=_size, default=[_size(s) for s in DEFAULT_SIZES], metavar="WxH",
                        help="input image sizes (default: 640x480 1280x720)")
    parser.add_argument("--policy", choices=MERGE_POLICIES, help="merge policy (default: the checkpoint's)")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per size")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per size")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--device", help="auto | cpu | cuda | cuda:N (default: the checkpoint's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic input scene")


def _sync(device) -> None:
    import torch
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_stages(model, image, inference) -> dict[str, float]:
    """One pass through predict()'s stages with the upsampling and fuse parts timed apart (seconds)."""
    import torch

    from panoptic_ros.modeling import preprocess as pre
    from panoptic_ros.panoptic import fuse

    inf = inference
    dev = model.device
    t = {}
    with torch.inference_mode():
        _sync(dev)
        s = time.perf_counter()
        prepared = model.prepare_inputs([image], inf)
        _sync(dev)
        t["preprocess"] = time.perf_counter() - s
        s = time.perf_counter()
        half = inf.half and dev.type == "cuda"
        with torch.autocast("cuda", dtype=torch.float16) if half else nullcontext():
            raw = model.forward_raw(prepared.images)
        _sync(dev)
        t["network"] = time.perf_counter() - s
        s = time.perf_counter()
        dets = model.postprocess_detections(raw, prepared.input_sizes, inf)[0]
        _sync(dev)
        t["detections"] = time.perf_counter() - s
        # same mapping as PanopticModel.postprocess_panoptic, split into upsampling and fuse
        s = time.perf_counter()
        in_size, out_size = prepared.input_sizes[0], prepared.original_sizes[0]
        sy, sx = in_size[0] / out_size[0], in_size[1] / out_size[1]
        semantic = pre.stride4_to_image(raw["semantic"][0].float(), in_size, out_size)
        offsets = pre.stride4_to_image(raw["offsets"][0].float(), in_size, out_size)
        offsets = offsets / offsets.new_tensor([sx, sy]).view(2, 1, 1)
        boxes = dets["boxes"] / dets["boxes"].new_tensor([sx, sy, sx, sy])
        _sync(dev)
        t["upsample"] = time.perf_counter() - s
        s = time.perf_counter()
        result = fuse(semantic, boxes, dets["scores"], dets["labels"], thing_mask=model.thing_mask,
                      policy=inf.merge_policy, center_offsets=offsets, stuff_area_threshold=inf.stuff_area_threshold,
                      unknown_undetected_things=inf.unknown_undetected_things)
        _sync(dev)
        t["fuse"] = time.perf_counter() - s
    t["detections_count"] = len(dets["scores"])
    t["segments"] = len(result.segments)
    return t


def _median_ms(values) -> float:
    import numpy as np
    return float(np.median(np.asarray(values, dtype=np.float64) * 1000))


def benchmark_size(model, image, inference, repeats: int, warmup: int) -> dict:
    """Stage medians, the total of predict() and the fuse share for one input image."""
    import numpy as np

    for _ in range(warmup):
        model.predict([image], inference=inference)
        time_stages(model, image, inference)
    stage_runs = [time_stages(model, image, inference) for _ in range(repeats)]
    totals = []
    for _ in range(repeats):
        _sync(model.device)
        s = time.perf_counter()
        model.predict([image], inference=inference)
        _sync(model.device)
        totals.append(time.perf_counter() - s)
    stages = {k: _median_ms([r[k] for r in stage_runs]) for k in STAGES}
    total = _median_ms(totals)
    lat = np.asarray(totals) * 1000
    return {"stages_ms": stages, "total_ms": total, "total_p90_ms": float(np.percentile(lat, 90)),
            "sum_of_stages_ms": sum(stages.values()), "fps": 1000.0 / total if total > 0 else 0.0,
            "fuse_fraction": stages["fuse"] / total if total > 0 else 0.0,
            "detections": int(np.median([r["detections_count"] for r in stage_runs])),
            "segments": int(np.median([r["segments"] for r in stage_runs]))}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    labels = [f"{r['width']}x{r['height']}" for r in rows]
    bottom = [0.0] * len(rows)
    for stage in STAGES:
        vals = [r["stages_ms"][stage] for r in rows]
        ax.bar(labels, vals, bottom=bottom, label=stage)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.plot(labels, [r["total_ms"] for r in rows], "kD", markersize=7, linestyle="none", label="predict() total")
    for i, r in enumerate(rows):
        ax.annotate(f"fuse {100 * r['fuse_fraction']:.1f}%", (i, max(bottom[i], r["total_ms"])),
                    ha="center", va="bottom", fontsize=8)
    ax.set(ylabel="median ms", title="model pipeline per stage (input image -> panoptic result)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args) -> dict:
    import numpy as np
    import torch

    from panoptic_ros.data.synth import render_scene
    from panoptic_ros.engine.inference import inference_config, load_model
    from panoptic_ros.engine.train_log import write_json

    if args.repeats < 1 or args.warmup < 0:
        raise ValueError("--repeats must be >= 1 and --warmup >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.model, args.device)
    inf = inference_config(model, args.policy)
    rows = []
    for width, height in args.sizes:
        image, _, _ = render_scene(np.random.default_rng([args.seed, width, height]), width, height)
        row = {"width": width, "height": height, **benchmark_size(model, image, inf, args.repeats, args.warmup)}
        rows.append(row)
        log.info("%dx%d: total %.1f ms (%.1f FPS), fuse %.1f%%", width, height, row["total_ms"], row["fps"],
                 100 * row["fuse_fraction"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out / "model.json", out / "model.png"
    from panoptic_ros.modeling import default_model_path
    result = {"benchmark": "model", "model": str(args.model or default_model_path()), "device": str(model.device),
              "threads": torch.get_num_threads(), "torch": torch.__version__,
              "backbone": model.cfg.model.backbone, "input_size": inf.input_size, "policy": inf.merge_policy,
              "repeats": args.repeats, "warmup": args.warmup, "rows": rows,
              "fuse_under_10_percent": all(r["fuse_fraction"] < 0.10 for r in rows),
              "json": str(json_path), "plot": str(png_path)}
    plot(rows, png_path)
    write_json(json_path, result)
    print(format_table(result))
    return result


def format_table(result: dict) -> str:
    head = f"{'size':>10}" + "".join(f"{s:>12}" for s in STAGES) + f"{'total':>10}{'FPS':>7}{'fuse %':>8}"
    lines = [head]
    for r in result["rows"]:
        lines.append(f"{r['width']}x{r['height']:<5}".rjust(10) + "".join(f"{r['stages_ms'][s]:12.1f}" for s in STAGES)
                     + f"{r['total_ms']:10.1f}{r['fps']:7.1f}{100 * r['fuse_fraction']:8.1f}")
    return "\n".join(lines)
