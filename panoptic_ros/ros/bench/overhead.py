"""Per-frame overhead of the ROS side of panoptic_node as a fraction of the model time (`panoptic bench ros`).

For each size: a synthetic scene goes through FrameProcessor.predict (timed, median of --repeats), then the node's
own per-frame work is timed on that frame and result, with the node's code: decoding the input message (raw
bgr8; JPEG for image_transport=compressed), finishing the frame (panoptic_ros.stream) and building every output
message (panoptic_ros.ros.outputs: label, semantic, instances, overlay), and serializing them (what
rclpy.publish does before handing the bytes to the middleware). Reports overhead_fraction = (decode_raw + all
outputs) / model time, with and without the on-demand outputs (the overlay: published only when subscribed).
Writes OUT/ros.json and OUT/ros.png. Needs rclpy and the built messages (tools/run.sh). Options: cli/bench_ros.py.
"""
from __future__ import annotations

import array
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CompressedImage

from panoptic_ros.bench.args import DEFAULT_SIZES, image_size
from panoptic_ros.bench.plotting import stacked_stage_plot
from panoptic_ros.data.synth import render_scene
from panoptic_ros.modeling import default_model_path
from panoptic_ros.pipeline import build_pipeline
from panoptic_ros.stream import FrameProcessor
from panoptic_ros.utils.json_io import write_json

from .. import conversions, outputs

log = logging.getLogger(__name__)
IN_STAGES = ("decode_raw", "decode_jpeg")


@dataclass
class OverheadOptions:
    """One `panoptic bench ros` run."""
    out: Path
    model: str | None = None
    device: str | None = None
    runtime: str | None = None
    precision: str | None = None
    sizes: list = field(default_factory=lambda: [image_size(s) for s in DEFAULT_SIZES])
    repeats: int = 10
    threads: int = 0
    seed: int = 0


def out_stages() -> tuple[str, ...]:
    """One stage per registered output, then serialization of all of them."""
    return tuple(o.name for o in outputs.all_outputs()) + ("serialize",)


def camera_messages(rgb: np.ndarray):
    """The frame as a camera driver sends it: bgr8 Image and JPEG (quality 90) CompressedImage."""
    raw = conversions.rgb_to_bgr8_msg(rgb)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    jpeg = CompressedImage(format="jpeg")
    jpeg.data = array.array("B", buf.tobytes())
    return raw, jpeg


def _timed(fn: Callable, repeats: int) -> tuple[float, object]:
    """Median seconds of fn() over repeats, and its last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def time_frame(processor: FrameProcessor, rgb: np.ndarray, result, repeats: int = 10) -> dict[str, float]:
    """Median seconds per ROS-side stage for one frame and its PanopticResult."""
    raw, jpeg = camera_messages(rgb)
    frame = processor.finisher.finish(result, header=raw.header, stamp=0.0, image=rgb)
    _ = frame.panoptic  # the tensor -> numpy copy is shared by all outputs, as in the node: not timed per output
    t = {}
    t["decode_raw"], _ = _timed(lambda: conversions.image_msg_to_rgb(raw), repeats)
    t["decode_jpeg"], _ = _timed(lambda: conversions.compressed_msg_to_rgb(jpeg), repeats)
    messages = []
    for out in outputs.all_outputs():
        t[out.name], msg = _timed(lambda out=out: out.build(frame, conversions.RCLPY), repeats)
        if msg is not None:
            messages.append(msg)
    t["serialize"], _ = _timed(lambda: [serialize_message(m) for m in messages], repeats)
    return t


def measure_size(processor: FrameProcessor, rgb: np.ndarray, repeats: int) -> dict:
    """Model and ROS-side times (ms) for one frame."""
    processor.predict([rgb])  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = processor.predict([rgb])[0]
        times.append(time.perf_counter() - start)
    model_ms = float(np.median(times) * 1000)
    stages = {k: v * 1000 for k, v in time_frame(processor, rgb, result, repeats).items()}
    out_names = out_stages()
    out_ms = sum(stages[k] for k in out_names)
    out_no_overlay_ms = out_ms - sum(stages[o.name] for o in outputs.all_outputs() if o.on_demand)
    overhead_ms = stages["decode_raw"] + out_ms
    return {"model_ms": model_ms, "stages_ms": stages, "in_stages": list(IN_STAGES), "out_stages": list(out_names),
            "overhead_ms": overhead_ms, "overhead_no_overlay_ms": stages["decode_raw"] + out_no_overlay_ms,
            "overhead_fraction": overhead_ms / model_ms if model_ms > 0 else float("nan"),
            "overhead_fraction_no_overlay": (stages["decode_raw"] + out_no_overlay_ms) / model_ms
            if model_ms > 0 else float("nan"),
            "segments": len(result.segments)}


def plot(rows: list[dict], path: Path) -> None:
    stages = ["decode_raw"] + list(rows[0]["out_stages"]) if rows else []
    stacked_stage_plot(path, [f"{r['width']}x{r['height']}" for r in rows],
                       {s: [r["stages_ms"][s] for r in rows] for s in stages},
                       [f"{100 * r['overhead_fraction']:.1f}% of model ({r['model_ms']:.0f} ms)" for r in rows],
                       ylabel="median ms per frame", title="panoptic_node per-frame ROS overhead (besides the model)")


def run(args: OverheadOptions) -> dict:
    if args.repeats < 1:
        raise ValueError("--repeats must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    model = build_pipeline(args.model, device=args.device, runtime=args.runtime, precision=args.precision)
    processor = FrameProcessor(model, model.cfg)
    inference = processor.cfg.inference
    runtime = getattr(model, "runtime", None)
    rows = []
    for width, height in args.sizes:
        rgb, _, _ = render_scene(np.random.default_rng([args.seed, width, height]), width, height)
        row = {"width": width, "height": height, **measure_size(processor, rgb, args.repeats)}
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
