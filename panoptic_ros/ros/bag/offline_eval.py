"""`panoptic bag eval`: run the model offline over every image of a bag topic, as fast as possible.

Writes into --out:
  output_bag/   rosbag2 (mcap) with every node output (outputs.py: <ns>/panoptic 32SC1 segment ids,
                <ns>/semantic mono8 class index, <ns>/instances PanopticInstanceArray, <ns>/overlay bgr8),
                built as the node builds them, stamped with the input's header, logged at its bag time
  report.json   frames, skipped records, FPS, per-frame latency percentiles, runtime and precision,
                PQ/SQ/RQ with --gt
  latency.png   per-frame latency plot
  overlays/     the first --save-overlays overlay JPEGs
Latency of a frame = model.predict (resize, network, panoptic head) + building the output messages, the
work the node does per frame; the first --warmup frames are excluded from the statistics (not from the bag).
Settings as every `panoptic` command takes them (cli/options.py): the checkpoint's own, then --config FILE,
section.name=value overrides (e.g. inference.input_size=320 node.overlay_alpha=0.3), then the short flags
--model --policy --runtime --precision --device. The model runs on the same pipeline as the node.
No ROS graph is needed: only the rosbags library.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from .. import outputs as node_outputs
from .reader import BagError, ImageBagReader
from .report import latency_stats, plot_latency, write_json
from .writer import DEFAULT_NAMESPACE, OutputBagWriter, find_bag_file

log = logging.getLogger(__name__)


SECTIONS = ("inference", "node")   # what bag eval reads from --config / overrides (node: model, overlay_alpha)


def add_arguments(p) -> None:
    from ...cli.options import add_config_options

    p.add_argument("--bag", required=True, help="rosbag2 directory, .mcap or .db3 file")
    p.add_argument("--topic", default=None,
                   help="image topic (sensor_msgs/Image or CompressedImage); may be left out when the bag has one")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--gt", type=Path, default=None,
                   help="ground truth in COCO panoptic layout (DIR/panoptic.json, DIR/panoptic/) -> PQ/SQ/RQ")
    add_config_options(p, flags=("model", "policy", "runtime", "precision", "device"),
                       flag_help={"model": "model file (.safetensors with its .json, .onnx, OpenVINO .xml); "
                                           "default: the shipped model",
                                  "policy": "merge policy (default: the checkpoint's)"})
    p.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="namespace of the output topics")
    p.add_argument("--no-overlay", action="store_true", help="do not render/write the overlay topic")
    p.add_argument("--skip-output", action="append", default=[], metavar="NAME",
                   help="leave an output topic out of the bag (repeatable; --no-overlay = --skip-output overlay)")
    p.add_argument("--save-overlays", type=int, default=10, metavar="N", help="overlay JPEGs to keep (0 = none)")
    p.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0 = all)")
    p.add_argument("--warmup", type=int, default=1, help="first frames left out of the latency statistics")


def run(args) -> dict:
    import cv2
    import numpy as np
    from tqdm import tqdm

    from ...cli.options import pipeline_from_args
    from .groundtruth import BagGroundTruth, BagPQ, channel_to_category_ids

    topics = [args.topic] if args.topic else None
    out: Path = args.out
    bag_out = out / "output_bag"
    if bag_out.exists():
        raise FileExistsError(f"{bag_out} exists already: choose another --out or remove it")
    reader = ImageBagReader(args.bag, topics).open()
    try:
        if len(reader.requested) != 1:
            raise BagError(f"bag {args.bag} has several image topics ({', '.join(reader.requested)}): pick one "
                           "with --topic")
        topic = reader.requested[0]
        gt = BagGroundTruth(args.gt) if args.gt is not None else None  # fail early on a bad GT folder
        model, cfg = pipeline_from_args(args, SECTIONS)
        inf, alpha = cfg.inference, cfg.node.overlay_alpha
        runtime = getattr(model, "runtime", None)
        runtime_name, precision = getattr(runtime, "name", None), getattr(runtime, "precision", None)
        categories = model.categories
        pq = BagPQ(gt) if gt is not None else None
        channel_map = channel_to_category_ids(gt.categories, categories) if gt is not None else None
        out.mkdir(parents=True, exist_ok=True)
        overlay_dir = out / "overlays"
        latency, model_ms, per_frame = [], [], []
        saved = 0
        t_start = time.perf_counter()
        total = reader.counts.get(topic, 0)
        if args.max_frames:
            total = min(total, args.max_frames)
        skip = list(args.skip_output) + (["overlay"] if args.no_overlay else [])
        with OutputBagWriter(bag_out, namespace=args.namespace, exclude=skip) as writer:
            bar = tqdm(total=total, desc="bag eval", unit="frame")
            for n, frame in enumerate(reader.frames()):
                if args.max_frames and n >= args.max_frames:
                    break
                t0 = time.perf_counter()
                result = model.predict([frame.image], inference=inf)[0]
                t1 = time.perf_counter()
                outs = node_outputs.OutputFrame(result, frame.header, categories, frame.image, alpha)
                messages = writer.build_frame(outs)
                t2 = time.perf_counter()
                writer.write_frame(messages, frame.log_time_ns)
                if n >= args.warmup:
                    latency.append((t2 - t0) * 1e3)
                    model_ms.append((t1 - t0) * 1e3)
                per_frame.append({"index": frame.index, "stamp_ns": frame.stamp_ns,
                                  "latency_ms": round((t2 - t0) * 1e3, 3), "model_ms": round((t1 - t0) * 1e3, 3),
                                  "segments": len(result.segments)})
                if "overlay" in messages and saved < args.save_overlays:
                    overlay_rgb = node_outputs.OUTPUTS.get("overlay").decode(messages["overlay"])
                    overlay_dir.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(overlay_dir / f"frame_{frame.index:06d}.jpg"),
                                np.ascontiguousarray(overlay_rgb[..., ::-1]))
                    saved += 1
                if pq is not None:
                    pq.add(frame.index, frame.stamp_ns, outs.panoptic, result.segments, channel_map)
                bar.update(1)
            bar.close()
            wall = time.perf_counter() - t_start
    finally:
        reader.close()
    frames = len(per_frame)
    report = {
        "bag": str(args.bag), "storage": reader.storage, "topic": topic,
        "frames": frames, "skipped": reader.skipped.to_dict(),
        "fps": round(frames / wall, 3) if wall > 0 and frames else None,
        "fps_model": round(1e3 / float(np.mean(latency)), 3) if latency else None,
        "warmup_frames": min(args.warmup, frames),
        "latency_ms": latency_stats(latency), "model_ms": latency_stats(model_ms),
        "inference": {"merge_policy": inf.merge_policy, "input_size": inf.input_size,
                      "score_threshold": inf.score_threshold, "fuse_resolution": inf.fuse_resolution,
                      "device": str(model.device), "runtime": runtime_name, "precision": precision},
        "runtime": runtime_name, "precision": precision,
        "model": str(cfg.node.model or "default"),
        "output_bag": str(bag_out), "output_bag_file": str(find_bag_file(bag_out)),
        "output_topics": writer.names, "overlays": str(overlay_dir) if saved else None,
        "per_frame": per_frame,
    }
    if pq is not None:
        report["pq"] = pq.summary()
    write_json(out / "report.json", report)
    plot_latency(out / "latency.png", {"frame (predict + outputs)": latency, "model.predict": model_ms},
                 f"bag eval: {frames} frames of {topic}")
    log.info("bag eval: %d frames, %.2f FPS (runtime %s, %s), report in %s", frames, report["fps"] or 0.0,
             runtime_name, precision, out / "report.json")
    return report
