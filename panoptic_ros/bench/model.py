"""End-to-end timing of the inference pipeline, stage by stage: input numpy image -> PanopticResult.

For each image size and each variant (runtime x precision x fuse resolution) the pipeline's own stage timer
gives median ms of preprocess, network, detections (decode + NMS), mapping (outputs to the fuse grid) and merge
(the parameter-free panoptic head and segments at image resolution); total = wall time of the whole run.
The first variant is the baseline (default: torch fp32 with the exact image-resolution fuse); every row reports
its speed-up over the baseline at the same size, so "best runtime + fast post-processing vs torch eager +
full-resolution fuse" is measured in one run. Input: a synthetic scene at each size (realistic detections).
Writes OUT/model.json and OUT/model.png.
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from panoptic_ros.data.synth import render_scene
from panoptic_ros.pipeline import build_pipeline, resolve_model_path
from panoptic_ros.runtime import cpu
from panoptic_ros.utils.json_io import write_json

from .args import DEFAULT_SIZES, image_size
from .plotting import stacked_stage_plot

log = logging.getLogger(__name__)

STAGES = ("preprocess", "network", "detections", "mapping", "merge")
DEFAULT_VARIANTS = ("torch:fp32:image", "auto:auto:input", "auto:auto:output")


def _size(text: str) -> tuple[int, int]:
    return image_size(text, minimum=32)


def variant(text: str) -> tuple[str, str, str]:
    """'RUNTIME:PRECISION:FUSE_RESOLUTION' (e.g. openvino:bf16:output; auto allowed for the first two)."""
    parts = text.split(":")
    if len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError(f"expected RUNTIME:PRECISION:FUSE_RESOLUTION, got {text!r}")
    return parts[0], parts[1], parts[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="checkpoint, .onnx or OpenVINO .xml (default: the shipped model)")
    parser.add_argument("--sizes", nargs="+", type=_size, default=[_size(s) for s in DEFAULT_SIZES], metavar="WxH",
                        help="input image sizes (default: 640x480 1280x720)")
    parser.add_argument("--variants", nargs="+", type=variant, default=[variant(v) for v in DEFAULT_VARIANTS],
                        metavar="R:P:F", help="runtime:precision:fuse_resolution per variant, the first is the "
                        f"baseline (default: {' '.join(DEFAULT_VARIANTS)})")
    parser.add_argument("--policy", help="merge policy (default: the checkpoint's)")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per size and variant")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per size and variant")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic input scene")


def _median_ms(values) -> float:
    import numpy as np
    return float(np.median(np.asarray(values, dtype=np.float64) * 1000))


def benchmark_variant(pipeline, image, inference, repeats: int, warmup: int) -> dict:
    """Stage medians, total latency (median, p90) and counts for one pipeline and input image."""
    import numpy as np

    for _ in range(warmup):
        pipeline.run([image], inference=inference)
    runs, totals = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        run = pipeline.run([image], inference=inference)
        totals.append(time.perf_counter() - start)
        runs.append(run)
    stages = {k: _median_ms([r.stage_seconds(inference.merge_policy)[k] for r in runs]) for k in STAGES}
    total = _median_ms(totals)
    post = stages["detections"] + stages["mapping"] + stages["merge"]
    result = runs[-1].results[inference.merge_policy][0]
    return {"stages_ms": stages, "total_ms": total,
            "total_p90_ms": float(np.percentile(np.asarray(totals) * 1000, 90)),
            "fps": 1000.0 / total if total > 0 else 0.0, "postprocess_ms": post,
            "postprocess_fraction": post / total if total > 0 else 0.0,
            "detections": len(runs[-1].detections[0].scores), "segments": len(result.segments)}


def plot(rows: list[dict], path: Path) -> None:
    labels = [f"{r['width']}x{r['height']}\n{r['runtime']} {r['precision']}\nfuse@{r['fuse_resolution']}"
              for r in rows]
    stacked_stage_plot(path, labels, {s: [r["stages_ms"][s] for r in rows] for s in STAGES},
                       [f"{r['total_ms']:.0f} ms\nx{r['speedup']:.2f}" for r in rows], ylabel="median ms",
                       title="pipeline per stage (input image -> panoptic result)",
                       figsize=(max(7, 1.3 * len(rows)), 4.5), note_size=7, label_size=7)


def run(args) -> dict:
    import numpy as np
    import torch

    if args.repeats < 1 or args.warmup < 0:
        raise ValueError("--repeats must be >= 1 and --warmup >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    model_path = resolve_model_path(args.model)
    pipelines = {}
    for runtime, precision, _ in args.variants:
        if (runtime, precision) not in pipelines:
            pipelines[(runtime, precision)] = build_pipeline(model_path, device=args.device, runtime=runtime,
                                                             precision=precision)
    rows = []
    for width, height in args.sizes:
        image, _, _ = render_scene(np.random.default_rng([args.seed, width, height]), width, height)
        baseline = None
        for runtime, precision, resolution in args.variants:
            pipe = pipelines[(runtime, precision)]
            inf = pipe.inference_with({"merge_policy": args.policy, "fuse_resolution": resolution})
            row = {"width": width, "height": height, "runtime": pipe.runtime.name,
                   "precision": pipe.runtime.precision, "fuse_resolution": resolution,
                   **benchmark_variant(pipe, image, inf, args.repeats, args.warmup)}
            baseline = baseline or row["total_ms"]
            row["speedup"] = baseline / row["total_ms"] if row["total_ms"] > 0 else 0.0
            rows.append(row)
            log.info("%dx%d %s %s fuse@%s: total %.1f ms (%.1f FPS, x%.2f), post-processing %.0f%%", width, height,
                     row["runtime"], row["precision"], resolution, row["total_ms"], row["fps"], row["speedup"],
                     100 * row["postprocess_fraction"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out / "model.json", out / "model.png"
    first = next(iter(pipelines.values()))
    result = {"benchmark": "model", "model": str(model_path), "cpu": cpu.cpu_info().to_json(),
              "device": str(first.device),
              "threads": torch.get_num_threads(), "torch": torch.__version__,
              "backbone": first.cfg.model.backbone, "policy": args.policy or first.cfg.inference.merge_policy,
              "variants": [":".join(v) for v in args.variants], "repeats": args.repeats, "warmup": args.warmup,
              "rows": rows, "best_speedup": {f"{r['width']}x{r['height']}": max(
                  x["speedup"] for x in rows if (x["width"], x["height"]) == (r["width"], r["height"]))
                  for r in rows},
              "json": str(json_path), "plot": str(png_path)}
    plot(rows, png_path)
    write_json(json_path, result)
    print(format_table(result))
    return result


def format_table(result: dict) -> str:
    head = (f"{'size':>10} {'runtime':>12} {'prec':>5} {'fuse@':>6}" + "".join(f"{s:>11}" for s in STAGES)
            + f"{'total':>9}{'FPS':>7}{'x':>6}")
    lines = [head]
    for r in result["rows"]:
        lines.append(f"{r['width']}x{r['height']:<5}".rjust(10) + f" {r['runtime']:>12} {r['precision']:>5} "
                     f"{r['fuse_resolution']:>6}" + "".join(f"{r['stages_ms'][s]:11.1f}" for s in STAGES)
                     + f"{r['total_ms']:9.1f}{r['fps']:7.1f}{r['speedup']:6.2f}")
    return "\n".join(lines)
