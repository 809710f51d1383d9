"""Tracking benchmark: the tracker's cost next to the pipeline's, and its quality on a held-out synthetic video.

Cost: a synthetic 640x480 video (static camera, about --objects moving objects in view: crossing, occluding,
entering and leaving) runs through the pipeline (the model's default inference path) frame by frame; after each
frame the tracker updates (a) on the ground truth as a panoptic result with all objects (renumbered every frame: the
worst case, every object segmented) and (b) on the pipeline's own result. Both are timed on the same frames,
interleaved, so machine load hits them alike; share = tracker median / pipeline median (wall time).
Quality (--quality-frames, 0 = skip): `panoptic eval`'s sequence evaluation on a held-out panning video (seed
--seed, not used by the tests): id-keep rate of consecutive matched thing segments, STQ / AQ with and without
tracking, ID switches per 100 frames; again with only every --drop-th frame (frames dropped under load).
Comparison (--compare-frames, 0 = skip): held-out re-identification videos (--compare-seeds; camera panning away
and back, objects leaving and re-entering, walls, every second video with look-alikes) through the network once;
this tracker with and without re-identification (and again at each --reid-margins value: returns kept against
wrong merges), no tracking and BoxMOT's ByteTrack / OC-SORT replay the same outputs (bench.tracking_compare): one
table (STQ, AQ, IDF1, HOTA, ID switches, re-id rate, wrong merges, ms per frame). Below it the re-identification
tracker on perfect segments (the ground truth of the same frames: what the network's segments cost it), and its
returns and wrong merges per kind of video (distinct objects, where appearance can decide; look-alikes, where only
motion can). Writes OUT/tracking.json and OUT/tracking.png (the metrics of every tracker on the network's outputs;
the margin's trade).
"""
from __future__ import annotations

import argparse
import functools
import json
import logging
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from panoptic_ros.data.synth import CATEGORIES, ReidOptions, make_synthetic_sequence, render_sequence
from panoptic_ros.engine.sequence_eval import evaluate_sequences, track_settings
from panoptic_ros.panoptic.result import PanopticResult
from panoptic_ros.pipeline import build_pipeline
from panoptic_ros.tracking import TRACK_STAGES, PanopticTracker
from panoptic_ros.utils.json_io import write_json

from . import tracking_compare
from .args import fractions, image_size

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="checkpoint, .onnx or OpenVINO .xml (default: the shipped model)")
    parser.add_argument("--runtime", default="auto", help="network runtime (default: auto)")
    parser.add_argument("--precision", default="auto", help="network precision (default: auto)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--size", type=lambda t: image_size(t, 32), default=(640, 480), metavar="WxH",
                        help="image size of the cost run (default: 640x480)")
    parser.add_argument("--objects", type=int, default=50, help="objects in view in the cost run (default 50)")
    parser.add_argument("--frames", type=int, default=40, help="frames of the cost run (default 40)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed frames first (default 3)")
    parser.add_argument("--quality-frames", type=int, default=100,
                        help="frames of the held-out quality video at the same size (default 100; 0 = skip)")
    parser.add_argument("--seed", type=int, default=1234, help="seed of both videos (default 1234: held out)")
    parser.add_argument("--drop", type=int, default=3, help="also evaluate the quality video with only every "
                        "DROP-th frame (frames dropped under load; stamps kept), 0 or 1 = skip (default 3)")
    parser.add_argument("--compare-frames", type=int, default=120, help="frames of each re-identification video "
                        "of the tracker comparison (default 120; 0 = skip)")
    parser.add_argument("--compare-seeds", default="1234,1235,1236,1237,1238,1239",
                        help="seeds of the comparison videos, every second one with look-alikes (default "
                             "1234-1239: held out; six videos give about 50 returning objects)")
    parser.add_argument("--reid-margins", type=fractions, default=[0.3, 0.5],
                        help="the re-identification tracker again at these track_reid_margin values (the trade of "
                             "returns kept against wrong merges; comma-separated, '' = none; default 0.3,0.5)")


def ground_truth_result(frame, categories, seed: int = 0):
    """A SequenceFrame's ground truth as a fuse()-style PanopticResult (ids renumbered 1..K in a random order)."""


    ids = [s["id"] for s in frame.segments]
    new = np.random.default_rng(seed).permutation(len(ids)) + 1
    lut = np.zeros(int(frame.id_map.max(initial=0)) + 1, np.int32)
    segments = []
    for s, nid in zip(frame.segments, new.tolist()):
        lut[s["id"]] = nid
        ch = categories.index(s["category_id"])
        segments.append({"id": nid, "category_id": ch, "isthing": bool(categories.category(ch).isthing),
                         "score": 1.0, "bbox": list(s["bbox"]), "area": int(s["area"])})
    return PanopticResult(torch.from_numpy(lut[frame.id_map]), sorted(segments, key=lambda s: s["id"]))


def objects_for_view(seed: int, frames: int, width: int, height: int, wanted: int) -> int:
    """Objects to place in the scene so that the middle frame shows at least ``wanted`` of them (some start
    outside the view and enter, others leave)."""

    total = wanted
    for _ in range(40):
        middle = list(render_sequence(seed, frames // 2 + 1, width, height, objects=total, pan=0))[-1]
        if sum(1 for s in middle.segments if s["id"] % 1000) >= wanted:
            break
        total = int(total * 1.1) + 1
    return total


def every_nth_frame(video: Path, out: Path, n: int) -> Path:
    """A sequence folder with every n-th frame of ``video`` (images and PNGs linked, stamps kept)."""

    data = json.loads((video / "panoptic.json").read_text())
    keep = {img["id"] for img in data["images"] if img["frame_index"] % n == 0}
    data["images"] = [img for img in data["images"] if img["id"] in keep]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in keep]
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("images", "panoptic"):
        (out / sub).symlink_to((video / sub).resolve())
    write_json(out / "panoptic.json", data, indent=None)
    return out


def _quality(m: dict, video: dict) -> dict:
    tracked, raw = m["stq"]["tracking"], m["stq"]["no_tracking"]
    log.info("tracking quality %s: ids kept %.1f %%, STQ %.1f (without tracking %.1f)", video,
             100 * tracked["id_keep"]["fraction"], 100 * tracked["stq"], 100 * raw["stq"])
    return {"video": video, "frames": m["frames"], "pq": m["pq"]["All"]["pq"], "id_keep": tracked["id_keep"],
            "id_keep_without_tracking": raw["id_keep"], "stq": tracked["stq"], "aq": tracked["aq"],
            "sq": tracked["sq"], "stq_without_tracking": raw["stq"], "aq_without_tracking": raw["aq"],
            "id_switches_per_100": tracked["id_switches_per_100"],
            "id_switches_per_100_without_tracking": raw["id_switches_per_100"], "tracker_share": m["tracker_share"]}


def run(args: argparse.Namespace) -> dict:
    if args.frames < 1 or args.objects < 1 or args.warmup < 0 or args.quality_frames < 0 or args.drop < 0:
        raise ValueError("--frames and --objects must be >= 1, --warmup, --quality-frames and --drop >= 0")
    width, height = args.size
    pipeline = build_pipeline(args.model, runtime=args.runtime, precision=args.precision, device=args.device)
    inf = pipeline.cfg.inference
    gt_tracker = PanopticTracker(inf, CATEGORIES)
    own_tracker = PanopticTracker(inf, pipeline.categories)
    total = objects_for_view(args.seed, args.warmup + args.frames, width, height, args.objects)
    frames = list(render_sequence(args.seed, args.warmup + args.frames, width, height, objects=total, pan=0))
    pipe_ms, gt_ms, own_ms, in_view, own_segments = [], [], [], [], []
    gt_stages_ms: dict[str, list[float]] = {name: [] for name in TRACK_STAGES}
    kept, pairs, previous = 0, 0, {}
    for f in tqdm(frames, desc="bench tracking", unit="frame"):
        gt_result = ground_truth_result(f, CATEGORIES, seed=f.index)
        start = time.perf_counter()
        result = pipeline.predict([f.image], inference=inf)[0]
        pipeline_s = time.perf_counter() - start
        tracked = gt_tracker.update(gt_result, f.stamp, image=f.image)
        own_tracker.update(result, f.stamp, image=f.image)
        now = _gt_to_stable(f, tracked)         # ids kept by the tracker on perfect segments
        pairs += sum(1 for g in now if g in previous)
        kept += sum(1 for g, sid in now.items() if previous.get(g) == sid)
        previous = now
        if f.index < args.warmup:
            continue
        pipe_ms.append(1000 * pipeline_s)
        gt_ms.append(1000 * gt_tracker.last_update_s)
        own_ms.append(1000 * own_tracker.last_update_s)
        for name, seconds in gt_tracker.last_stages_s.items():
            gt_stages_ms[name].append(1000 * seconds)
        in_view.append(sum(1 for s in gt_result.segments if s["isthing"]))
        own_segments.append(sum(1 for s in result.segments if s["isthing"]))

    def stats(ms):
        a = np.asarray(ms)
        return {"p50": float(np.median(a)), "mean": float(a.mean()), "p90": float(np.percentile(a, 90))}

    out = {
        "size": f"{width}x{height}", "frames": args.frames, "seed": args.seed, "objects_in_scene": total,
        "runtime": getattr(pipeline.runtime, "name", ""), "precision": getattr(pipeline.runtime, "precision", ""),
        "device": str(pipeline.device), "fuse_resolution": inf.fuse_resolution,
        "objects_in_view_mean": float(np.mean(in_view)), "objects_in_view_min": int(np.min(in_view)),
        "pipeline_things_mean": float(np.mean(own_segments)),
        "pipeline_ms": stats(pipe_ms), "tracker_ms_ground_truth": stats(gt_ms), "tracker_ms_pipeline": stats(own_ms),
        # where the ground-truth tracker's time goes (medians per stage: they need not add up to the total's median)
        "tracker_stages_ms_ground_truth": {name: float(np.median(v)) for name, v in gt_stages_ms.items()},
        "share_ground_truth": float(np.median(gt_ms) / np.median(pipe_ms)),
        "ground_truth_id_keep": {"kept": kept, "pairs": pairs, "fraction": kept / pairs if pairs else float("nan")},
        "share_pipeline": float(np.median(own_ms) / np.median(pipe_ms)),
        "target_share": 0.05,
        "track_settings": track_settings(inf),
        "cpu": cpu_name(),
    }
    log.info("tracking: %.2f ms for %.0f objects (%.1f %% of the pipeline's %.1f ms)",
             out["tracker_ms_ground_truth"]["p50"], out["objects_in_view_mean"], 100 * out["share_ground_truth"],
             out["pipeline_ms"]["p50"])
    log.info("tracking stages (median ms): %s",
             ", ".join(f"{k} {v:.2f}" for k, v in out["tracker_stages_ms_ground_truth"].items()))
    if args.quality_frames:
        with tempfile.TemporaryDirectory() as tmp:
            video = make_synthetic_sequence(Path(tmp) / "video", args.quality_frames, args.seed, width=width,
                                            height=height, progress=True)
            m = evaluate_sequences(pipeline, video, inference=inf, tracking=True, write_predictions=False)
            out["quality"] = _quality(m, {"seed": args.seed, "frames": args.quality_frames,
                                          "size": f"{width}x{height}", "pan": 4.0})
            if args.drop > 1:
                sparse = every_nth_frame(video, Path(tmp) / "sparse", args.drop)
                m = evaluate_sequences(pipeline, sparse, inference=inf, tracking=True, write_predictions=False)
                out["quality_dropped_frames"] = _quality(m, {"every_nth_frame": args.drop})
    path = Path(args.out) / "tracking.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if args.compare_frames:
        out["comparison"] = compare(pipeline, inf, args, width, height, path.with_suffix(".png"))
    write_json(path, out)
    out["json"] = str(path)
    return out


def _gt_to_stable(frame, tracked) -> dict[int, int]:
    """Ground-truth thing id -> the stable id the tracker gave it in this frame."""
    out = tracked.panoptic.numpy()
    stable = {}
    for s in frame.segments:
        inside = frame.id_map == s["id"]
        if s["id"] % 1000 and inside.any():
            stable[int(s["id"])] = int(out[inside][0])
    return stable


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), for the numbers' context."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def compare(pipeline, inf, args, width: int, height: int, plot_path: Path) -> dict:
    """The trackers on the same network outputs of the held-out re-identification videos (see the docstring)."""
    seeds = [int(s) for s in str(args.compare_seeds).split(",") if s.strip()]
    cats = pipeline.categories
    frames, perfect, kinds = [], [], {}
    for n, seed in enumerate(seeds):
        opts = ReidOptions(pan_back=3.0, reenter=3, occluders=2, lookalike=n % 2 == 1)
        video = f"seed{seed}{'-lookalike' if opts.lookalike else ''}"
        kinds[video] = "look-alike" if opts.lookalike else "distinct"
        for f in tqdm(render_sequence(seed, args.compare_frames, width, height, pan=6.0, reid=opts),
                      total=args.compare_frames, desc=f"compare {video}", unit="frame"):
            result = pipeline.predict([f.image], inference=inf)[0]
            frames.append(tracking_compare.Frame(video, f.stamp, f.image, result, f.id_map, f.segments))
            perfect.append(tracking_compare.Frame(video, f.stamp, f.image,      # (made when replayed: no 2nd map)
                                                  functools.partial(ground_truth_result, f, cats, seed=f.index),
                                                  f.id_map, f.segments))
    margins = [m for m in args.reid_margins if m != inf.track_reid_margin]
    adapters = [tracking_compare.PanopticAdapter("panoptic_ros (re-id)", inf, cats),
                *(tracking_compare.PanopticAdapter(f"panoptic_ros (re-id, margin {m:g})",
                                                   replace(inf, track_reid_margin=m), cats) for m in margins),
                tracking_compare.PanopticAdapter("panoptic_ros (no re-id)", replace(inf, track_reid=False), cats),
                tracking_compare.NoTracking()]
    boxmot, missing = tracking_compare.boxmot_adapters(fps=10.0)
    rows = [tracking_compare.evaluate(a, frames, cats) for a in adapters + boxmot]
    for row, margin in zip(rows, [inf.track_reid_margin, *margins]):
        row["reid_margin"] = margin            # (the re-identification rows: the trade-off panel of the plot)
    # the network's share of what re-identification misses: the same tracker on the ground truth of the same frames
    on_perfect = tracking_compare.evaluate(adapters[0], perfect, cats)
    on_perfect["tracker"] = "panoptic_ros (re-id), perfect segments"
    by_kind = {"network": tracking_compare.by_video_kind(rows[0], kinds),
               "perfect_segments": tracking_compare.by_video_kind(on_perfect, kinds)}
    table = tracking_compare.format_table(rows + [on_perfect])
    videos = ", ".join(sorted({f.video for f in frames}))
    print(f"trackers on the same network outputs ({len(frames)} frames of {videos}, {width}x{height}"
          f"{'; ' + missing if missing else ''}; the last row: the ground truth instead of the network's "
          f"segments):\n{table}\n{tracking_compare.format_by_kind(by_kind)}")
    tracking_compare.plot(rows, plot_path)
    return {"videos": sorted({f.video for f in frames}), "frames": len(frames), "size": f"{width}x{height}",
            "options": "pan_back 3 s, 3 re-entering objects, 2 walls; every second video with look-alikes",
            "rows": rows, "perfect_segments": on_perfect, "reid_by_video_kind": by_kind, "table": table,
            "boxmot": missing or "used", "plot": str(plot_path)}
