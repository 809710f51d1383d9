"""A model against a baseline model file, side by side in one run: end-to-end time on each one's default path
and quality on held-out synthetic splits.

Why: replacing the shipped model is a speed-for-quality trade that must be shown on one machine in one run (timings
of different runs or machines do not compare). For each image size the two pipelines are timed in alternating
rounds (input numpy image -> panoptic result, the pipeline's own stage timer), so drift or other load hits both
alike; then both are evaluated with one merge policy on each --data split (PQ, PQ things / stuff, mIoU, box AP).
Writes OUT/release.json (with the CPU that measured it) and OUT/release.png.

Typical use, before a new shipped model replaces the old one: copy the old default.safetensors + .json to
runs/bench/previous_model/ and run `panoptic bench release --baseline runs/bench/previous_model/default.safetensors`.
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from ..data.synth import make_synthetic_dataset, render_scene
from ..engine.dataset_eval import evaluate_model
from ..pipeline import build_pipeline, resolve_model_path
from ..runtime.cpu import cpu_info
from ..utils.json_io import write_json
from .args import DEFAULT_SIZES, image_size
from .plotting import stacked_stage_plot

log = logging.getLogger(__name__)

DEFAULT_SPLITS = {"val": (2, "normal"), "val_overlap": (3, "heavy")}   # the synthetic splits of `make model`
STAGES = ("preprocess", "network", "detections", "mapping", "merge")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", required=True, help="the model to compare against (.safetensors, .onnx, .xml)")
    parser.add_argument("--model", help="the model under test (default: the shipped model)")
    parser.add_argument("--sizes", nargs="+", type=image_size, default=[image_size(s) for s in DEFAULT_SIZES],
                        metavar="WxH", help="input image sizes (default: 640x480 1280x720)")
    parser.add_argument("--runtime", default="auto", help="runtime of both pipelines (default: auto, each model's "
                        "default path)")
    parser.add_argument("--precision", default="auto", help="precision of both pipelines (default: auto)")
    parser.add_argument("--baseline-runtime", help="the baseline's runtime when it differs (e.g. the path it had "
                        "before; default: --runtime)")
    parser.add_argument("--baseline-precision", help="the baseline's precision when it differs (default: --precision)")
    parser.add_argument("--policy", default="closest_center", help="merge policy (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=30, help="timed rounds per size (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed rounds per size (default: %(default)s)")
    parser.add_argument("--data", nargs="*", default=None, metavar="DIR",
                        help="evaluation splits (COCO panoptic folders); default: the synthetic val (seed 2) and "
                        "val_overlap (seed 3, heavy overlap) splits of `make model`, made under OUT/data when absent")
    parser.add_argument("--num-images", type=int, default=100, help="images per generated split (default: 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the timed synthetic scene")


def default_splits(out: Path, num_images: int) -> list[Path]:
    """The `make model` validation splits (same seeds), generated under OUT/data unless present."""
    paths = []
    for name, (seed, overlap) in DEFAULT_SPLITS.items():
        path = out / "data" / name
        if not (path / "panoptic.json").is_file():
            make_synthetic_dataset(path, num_images, seed=seed, overlap=overlap)
        paths.append(path)
    return paths


def time_side_by_side(pipelines: dict, image: np.ndarray, inference: dict, repeats: int, warmup: int) -> dict:
    """Alternating rounds over the pipelines -> {name: {total_ms, total_p90_ms, fps, stages_ms}} (medians)."""
    totals = {name: [] for name in pipelines}
    stages = {name: {s: [] for s in STAGES} for name in pipelines}
    for round_index in range(warmup + repeats):
        for name, pipe in pipelines.items():
            start = time.perf_counter()
            run = pipe.run([image], inference=inference[name])
            elapsed = time.perf_counter() - start
            if round_index < warmup:
                continue
            totals[name].append(elapsed)
            for stage, seconds in run.stage_seconds(inference[name].merge_policy).items():
                stages[name][stage].append(seconds)
    out = {}
    for name in pipelines:
        ms = np.asarray(totals[name]) * 1000
        median = float(np.median(ms))
        out[name] = {"total_ms": median, "total_p90_ms": float(np.percentile(ms, 90)),
                     "fps": 1000.0 / median if median > 0 else 0.0,
                     "stages_ms": {s: float(np.median(v)) * 1000 for s, v in stages[name].items() if v}}
    return out


def quality(pipeline, data: Path, policy: str) -> dict:
    """PQ (all / things / stuff), mIoU and box AP of one pipeline on one split, in percent."""
    inference = pipeline.inference_with({"merge_policy": policy})
    metrics = evaluate_model(pipeline, data, policies=[policy], inference=inference, progress=False)[policy]
    pq = metrics["pq"]
    return {"PQ": 100 * pq["All"]["pq"], "PQ_th": 100 * pq["Things"]["pq"], "PQ_st": 100 * pq["Stuff"]["pq"],
            "mIoU": 100 * metrics["miou"], "AP": 100 * metrics["box_ap"]["AP"], "images": metrics["num_images"],
            "eval_fps": metrics["fps"]}


def run(args) -> dict:
    if args.repeats < 1 or args.warmup < 0:
        raise ValueError("--repeats must be >= 1 and --warmup >= 0")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"baseline": resolve_model_path(args.baseline), "model": resolve_model_path(args.model)}
    paths = {"baseline": (args.baseline_runtime or args.runtime, args.baseline_precision or args.precision),
             "model": (args.runtime, args.precision)}
    pipelines = {name: build_pipeline(path, runtime=paths[name][0], precision=paths[name][1])
                 for name, path in files.items()}
    inference = {name: pipe.inference_with({"merge_policy": args.policy}) for name, pipe in pipelines.items()}
    described = {name: {"file": str(files[name]), "runtime": pipe.runtime.name, "precision": pipe.runtime.precision,
                        "backbone": pipe.cfg.model.backbone, "layout": pipe.cfg.model.layout}
                 for name, pipe in pipelines.items()}
    speed = []
    for width, height in args.sizes:
        image, _, _ = render_scene(np.random.default_rng([args.seed, width, height]), width, height)
        timed = time_side_by_side(pipelines, image, inference, args.repeats, args.warmup)
        row = {"width": width, "height": height, **timed,
               "speedup": timed["baseline"]["total_ms"] / max(timed["model"]["total_ms"], 1e-9)}
        speed.append(row)
        log.info("%dx%d: baseline %.1f ms, model %.1f ms (x%.2f)", width, height, timed["baseline"]["total_ms"],
                 timed["model"]["total_ms"], row["speedup"])
    splits = [Path(d) for d in args.data] if args.data else default_splits(out, args.num_images)
    accuracy = {}
    for split in splits:
        accuracy[split.name] = {name: quality(pipe, split, args.policy) for name, pipe in pipelines.items()}
        log.info("%s: PQ baseline %.2f, model %.2f", split.name, accuracy[split.name]["baseline"]["PQ"],
                 accuracy[split.name]["model"]["PQ"])
    json_path, png_path = out / "release.json", out / "release.png"
    result = {"benchmark": "release", "cpu": cpu_description(), "policy": args.policy, "repeats": args.repeats,
              "models": described, "speed": speed, "accuracy": accuracy, "json": str(json_path),
              "plot": str(png_path)}
    plot(speed, png_path)
    write_json(json_path, result)
    print(format_table(result))
    return result


def cpu_description() -> dict:
    """The CPU that measured this (model name and the instruction sets that decide the runtimes' speed)."""
    return cpu_info().to_json()


def format_table(result: dict) -> str:
    models = result["models"]
    lines = [f"CPU: {result['cpu'].get('model', '?')}"]
    lines += [f"{name}: {m['file']} ({m['runtime']} {m['precision']}, {m['backbone']}, {m['layout']} layout)"
              for name, m in models.items()]
    lines.append(f"{'size':>10} {'baseline ms':>12} {'model ms':>9} {'speed-up':>9}")
    for r in result["speed"]:
        lines.append(f"{r['width']}x{r['height']:<5}".rjust(10) + f" {r['baseline']['total_ms']:12.1f}"
                     f" {r['model']['total_ms']:9.1f} {r['speedup']:8.2f}x")
    lines.append(f"{'split':>12} {'model':>9}" + "".join(f"{k:>8}" for k in ("PQ", "PQ_th", "PQ_st", "mIoU", "AP")))
    for split, rows in result["accuracy"].items():
        for name, q in rows.items():
            lines.append(f"{split:>12} {name:>9}" + "".join(f"{q[k]:8.2f}" for k in ("PQ", "PQ_th", "PQ_st", "mIoU",
                                                                                     "AP")))
    return "\n".join(lines)


def plot(speed: list[dict], path: Path) -> None:
    labels, stages, notes = [], {s: [] for s in STAGES}, []
    for r in speed:
        for name in ("baseline", "model"):
            labels.append(f"{r['width']}x{r['height']}\n{name}")
            for s in STAGES:
                stages[s].append(r[name]["stages_ms"].get(s, 0.0))
            notes.append(f"{r[name]['total_ms']:.0f} ms")
    stacked_stage_plot(path, labels, stages, notes, ylabel="median ms",
                       title="end to end (input image -> panoptic result): baseline vs model",
                       figsize=(max(6, 1.4 * len(labels)), 4.5), note_size=7, label_size=7)
