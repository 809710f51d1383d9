"""PQ engines side by side: this package's reference implementation vs hotcoco (Rust) on the same files.

Writes --images synthetic 640x480 scenes (`panoptic synth`'s generator, seed 3) and a prediction per scene (the
ground truth shifted sideways by 3-9 px: IoUs spread around the 0.5 match threshold, things and stuff both
imperfect) into OUT/pq_data once, then times `pq_compute` with each engine, alternating, --rounds times (median),
checks that both give the same numbers (1e-9) and writes OUT/pq.json with the CPU.
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path

import numpy as np

from panoptic_ros.data import make_synthetic_dataset, read_panoptic_png, write_panoptic_png
from panoptic_ros.evaluation import pq_hotcoco
from panoptic_ros.evaluation.pq import pq_compute
from panoptic_ros.runtime import cpu
from panoptic_ros.utils.json_io import write_json

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=int, default=200, help="synthetic images (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per engine (median; default %(default)s)")


def make_data(root: Path, images: int) -> Path:
    """OUT/pq_data/{gt, pred} (made once per image count)."""
    if (root / "pred" / "panoptic.json").is_file():
        return root
    gt = make_synthetic_dataset(root / "gt", images, seed=3, width=640, height=480)
    data = json.loads((gt / "panoptic.json").read_text())
    (root / "pred" / "panoptic").mkdir(parents=True, exist_ok=True)
    anns = []
    for k, ann in enumerate(data["annotations"]):
        shift = 3 + k % 7
        m = np.roll(read_panoptic_png(gt / "panoptic" / ann["file_name"]), shift, axis=1)
        m[:, :shift] = 0
        write_panoptic_png(root / "pred" / "panoptic" / ann["file_name"], m)
        category = {s["id"]: s["category_id"] for s in ann["segments_info"]}
        anns.append({"image_id": ann["image_id"], "file_name": ann["file_name"],
                     "segments_info": [{"id": int(i), "category_id": category[int(i)]} for i in np.unique(m) if i]})
    (root / "pred" / "panoptic.json").write_text(json.dumps({"annotations": anns}))
    return root


def run(args) -> dict:
    out = Path(args.out)
    root = make_data(out / "pq_data" / f"n{args.images}", args.images)
    engines = ["reference"] + (["hotcoco"] if pq_hotcoco.available() else [])
    if len(engines) == 1:
        log.warning("hotcoco is not installed: timing the reference engine only")
    times: dict[str, list[float]] = {e: [] for e in engines}
    metrics = {}
    for _ in range(args.rounds):
        for engine in engines:
            t0 = time.perf_counter()
            metrics[engine] = pq_compute(root / "gt" / "panoptic.json", root / "pred" / "panoptic.json",
                                         progress=False, engine=engine)
            times[engine].append(time.perf_counter() - t0)
    diff = max((abs(metrics["hotcoco"][g][k] - metrics["reference"][g][k]) for g in ("All", "Things", "Stuff")
                for k in ("pq", "sq", "rq")), default=0.0) if "hotcoco" in metrics else None
    result = {"benchmark": "pq", "images": args.images, "size": "640x480", "rounds": args.rounds,
              "cpu": cpu.cpu_info().to_json(),
              "seconds": {e: statistics.median(t) for e, t in times.items()}, "all_runs": times,
              "pq": {e: {g: m[g] for g in ("All", "Things", "Stuff")} for e, m in metrics.items()},
              "max_abs_difference": diff, "json": str(out / "pq.json")}
    if "hotcoco" in times:
        result["speedup"] = result["seconds"]["reference"] / result["seconds"]["hotcoco"]
    write_json(out / "pq.json", result)
    for e in engines:
        log.info("%s: %.3f s for %d images (PQ %.4f)", e, result["seconds"][e], args.images,
                 100 * metrics[e]["All"]["pq"])
    return result
