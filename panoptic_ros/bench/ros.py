"""Per-frame overhead of the ROS side of panoptic_node as a fraction of the model time.

For each size: a synthetic scene goes through model.predict() (timed, median of --repeats), then the node's own
per-frame work is timed on that frame and result (panoptic_ros.ros.overhead): decoding the input message
(raw bgr8; JPEG for image_transport=compressed), building every output message (panoptic_ros.ros.outputs: label,
semantic, instances, overlay) and serializing them. Reports overhead_fraction = (decode_raw + all outputs) /
model time, with and without the on-demand outputs (the overlay: published only when subscribed).
Writes OUT/ros.json and OUT/ros.png. Needs rclpy and the built messages (tools/run.sh).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .args import DEFAULT_SIZES, image_size

log = logging.getLogger(__name__)


def _size(text: str) -> tuple[int, int]:
    return image_size(text, minimum=16)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="checkpoint (default: the shipped model)")
    parser.add_argument("--device", help="auto | cpu | cuda | cuda:N (default: the checkpoint's)")
    parser.add_argument("--runtime", default=None, help="network runtime, as the node's runtime parameter "
                                                        "(auto | torch | onnxruntime | openvino; default auto)")
    parser.add_argument("--precision", default=None, help="auto | fp32 | bf16 | fp16 (default auto)")
    parser.add_argument("--sizes", nargs="+", type=_size, default=[_size(s) for s in DEFAULT_SIZES], metavar="WxH",
                        help="camera frame sizes (default: 640x480 1280x720)")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per stage and size")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic scene")


def measure_size(model, inference, rgb, repeats: int) -> dict:
    """Model and ROS-side times (ms) for one frame."""
    import time

    import numpy as np

    from panoptic_ros.ros.outputs import all_outputs
    from panoptic_ros.ros.overhead import IN_STAGES, out_stages, time_frame

    model.predict([rgb], inference=inference)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = model.predict([rgb], inference=inference)[0]
        times.append(time.perf_counter() - start)
    model_ms = float(np.median(times) * 1000)
    stages = {k: v * 1000 for k, v in time_frame(rgb, result, model.categories, alpha=0.5, repeats=repeats).items()}
    out_names = out_stages()
    out_ms = sum(stages[k] for k in out_names)
    out_no_overlay_ms = out_ms - sum(stages[o.name] for o in all_outputs() if o.on_demand)
    overhead_ms = stages["decode_raw"] + out_ms
    return {"model_ms": model_ms, "stages_ms": stages, "in_stages": list(IN_STAGES), "out_stages": list(out_names),
            "overhead_ms": overhead_ms, "overhead_no_overlay_ms": stages["decode_raw"] + out_no_overlay_ms,
            "overhead_fraction": overhead_ms / model_ms if model_ms > 0 else float("nan"),
            "overhead_fraction_no_overlay": (stages["decode_raw"] + out_no_overlay_ms) / model_ms
            if model_ms > 0 else float("nan"),
            "segments": len(result.segments)}


def plot(rows: list[dict], path: Path) -> None:
    from .plotting import stacked_stage_plot

    stages = ["decode_raw"] + list(rows[0]["out_stages"]) if rows else []
    stacked_stage_plot(path, [f"{r['width']}x{r['height']}" for r in rows],
                       {s: [r["stages_ms"][s] for r in rows] for s in stages},
                       [f"{100 * r['overhead_fraction']:.1f}% of model ({r['model_ms']:.0f} ms)" for r in rows],
                       ylabel="median ms per frame", title="panoptic_node per-frame ROS overhead (besides the model)")


def run(args) -> dict:
    import numpy as np
    import torch

    from panoptic_ros.data.synth import render_scene
    from panoptic_ros.modeling import default_model_path
    from panoptic_ros.pipeline import build_pipeline
    from panoptic_ros.utils.json_io import write_json

    if args.repeats < 1:
        raise ValueError("--repeats must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    model = build_pipeline(args.model, device=args.device, runtime=args.runtime, precision=args.precision)
    inference = model.inference_with()
    runtime = getattr(model, "runtime", None)
    rows = []
    for width, height in args.sizes:
        rgb, _, _ = render_scene(np.random.default_rng([args.seed, width, height]), width, height)
        row = {"width": width, "height": height, **measure_size(model, inference, rgb, args.repeats)}
        rows.append(row)
        log.info("%dx%d: model %.1f ms, ROS overhead %.1f ms (%.1f%%; %.1f%% without overlay)", width, height,
                 row["model_ms"], row["overhead_ms"], 100 * row["overhead_fraction"],
                 100 * row["overhead_fraction_no_overlay"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out / "ros.json", out / "ros.png"
    result = {"benchmark": "ros", "model": str(args.model or default_model_path()), "device": str(model.device),
              "runtime": getattr(runtime, "name", None), "precision": getattr(runtime, "precision", None),
              "threads": torch.get_num_threads(), "input_size": inference.input_size, "repeats": args.repeats,
              "rows": rows, "json": str(json_path), "plot": str(png_path)}
    plot(rows, png_path)
    write_json(json_path, result)
    print(format_table(result))
    return result


def format_table(result: dict) -> str:
    lines = [f"{'size':>10}{'model ms':>10}{'in ms':>8}{'out ms':>8}{'overlay':>9}{'overhead':>10}{'no ovl':>8}"]
    for r in result["rows"]:
        s = r["stages_ms"]
        out = sum(s[k] for k in r["out_stages"])
        lines.append(f"{r['width']}x{r['height']}".rjust(10) + f"{r['model_ms']:10.1f}{s['decode_raw']:8.2f}"
                     f"{out:8.2f}{s.get('overlay', 0.0):9.2f}{100 * r['overhead_fraction']:9.1f}%"
                     f"{100 * r['overhead_fraction_no_overlay']:7.1f}%")
    return "\n".join(lines)
