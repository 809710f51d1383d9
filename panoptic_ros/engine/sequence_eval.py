"""Evaluation of a model + tracker on video sequences (`panoptic eval` on a sequence folder).

A sequence folder is a dataset in COCO panoptic layout whose images carry ``frame_index`` / ``video_id`` / ``stamp``
(or whose segments carry ``track_id``), as ``panoptic synth --sequence`` writes. Frames run through the pipeline in
order, one video at a time, and through a :class:`~panoptic_ros.tracking.PanopticTracker` (reset at each video).
Reported: PQ (ids do not matter to it), STQ / AQ / SQ with tracking and without (the per-frame ids of the panoptic
head), ID switches per 100 frames, the share of consecutive matched thing segments that keep their id, and the
tracker's cost as a share of the pipeline time (both wall time per frame).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from panoptic_ros.data import CocoPanopticDataset, save_panoptic_json, write_panoptic_png
from panoptic_ros.data.coco_panoptic import load_json
from panoptic_ros.evaluation import PQEvaluator, result_to_coco
from panoptic_ros.evaluation.stq import STQEvaluator
from panoptic_ros.tracking import PanopticTracker

from ..utils.json_io import write_json
from .dataset_eval import _check_categories

log = logging.getLogger(__name__)

DEFAULT_FPS = 10.0   # frame rate assumed for stamps when a sequence gives neither stamps nor fps


def is_sequence_dataset(data: str | Path) -> bool:
    """True when DIR/panoptic.json describes video frames (frame_index / video_id / stamp, or track_id)."""

    path = Path(data) / "panoptic.json"
    if not path.is_file():
        return False
    js = load_json(path)
    if not isinstance(js, dict):
        return False
    if any(isinstance(i, dict) and ("frame_index" in i or "video_id" in i) for i in js.get("images", []) or []):
        return True
    return any("track_id" in s for a in js.get("annotations", []) or [] if isinstance(a, dict)
               for s in a.get("segments_info", []) or [] if isinstance(s, dict))


def sequence_frames(dataset) -> list[tuple[Any, float, int]]:
    """(video id, stamp in seconds, sample index) of every frame, ordered by video then frame index."""
    info = (dataset.json.images or {})
    fps = DEFAULT_FPS
    rows = []
    for idx, sample in enumerate(dataset.samples):
        img = info.get(sample.image_id, {})
        frame = img.get("frame_index", idx)
        rows.append((str(img.get("video_id", "")), int(frame), img.get("stamp"), idx))
    rows.sort(key=lambda r: (r[0], r[1], r[3]))
    return [(video, float(stamp) if stamp is not None else frame / fps, idx) for video, frame, stamp, idx in rows]


def evaluate_sequences(pipeline, data: str | Path, *, inference=None, tracking: bool = True,
                       out_dir: str | Path | None = None, max_images: int | None = None, warmup: int = 2,
                       write_predictions: bool = True, progress: bool = True, model_name: str = "") -> dict:
    """Run pipeline (+ tracker) over every video of ``data``; returns (and writes to out_dir/metrics.json):

    {"pq": PQ dict, "stq": {"tracking": STQ summary or None, "no_tracking": STQ summary} (see evaluation.stq),
    "tracking": bool, "frames", "videos", "pipeline_ms": {mean, p50}, "tracker_ms": {mean, p50, max},
    "tracker_share": mean tracker time / mean pipeline time, "tracker_resets": [...], "model", "data", ...}.
    Predictions (tracked ids when tracking) go to out_dir/predictions/ in COCO panoptic format.
    """




    inf = inference or pipeline.cfg.inference
    dataset = CocoPanopticDataset(data)
    _check_categories(pipeline.categories, dataset.categories, dataset.ann_json)
    frames = sequence_frames(dataset)
    if max_images is not None:
        frames = frames[:max(0, int(max_images))]
    if not frames:
        raise ValueError(f"{dataset.ann_json}: no frames to evaluate")
    cats = pipeline.categories
    out_dir = Path(out_dir) if out_dir is not None else None
    pred_dir = out_dir / "predictions" if out_dir is not None and write_predictions else None
    if pred_dir is not None:
        (pred_dir / "panoptic").mkdir(parents=True, exist_ok=True)

    pq = PQEvaluator(cats)
    stq_raw = STQEvaluator(cats)
    stq_tracked = STQEvaluator(cats) if tracking else None
    tracker = PanopticTracker(inf, cats)
    first = dataset.load_image(frames[0][2])
    for _ in range(max(0, warmup)):
        pipeline.predict([first], inference=inf)
    pipeline_s, tracker_s, resets, annotations, images_json = [], [], [], [], []
    video = None
    for video_id, stamp, idx in tqdm(frames, desc=f"eval {Path(data).name}", unit="frame", disable=not progress,
                                     dynamic_ncols=True):
        if video_id != video:
            tracker.reset(f"new video {video_id!r}")
            video = video_id
        image = dataset.load_image(idx)
        t0 = time.perf_counter()
        raw = pipeline.predict([image], inference=inf)[0]
        pipeline_s.append(time.perf_counter() - t0)
        result = raw
        if tracking:
            result = tracker.update(raw, stamp, image=image)
            tracker_s.append(tracker.last_update_s)
            if tracker.last_reset:
                resets.append({"video": video_id, "stamp": stamp, "reason": tracker.last_reset})
        gt_pan, gt_segments = dataset.load_panoptic(idx)
        sample = dataset.samples[idx]
        pan, segs = result_to_coco(result, cats)
        pq.add(gt_pan, gt_segments, pan, segs, image_id=sample.image_id)
        stq_raw.add(gt_pan, gt_segments, *result_to_coco(raw, cats), sequence=video_id, stamp=stamp)
        if stq_tracked is not None:
            stq_tracked.add(gt_pan, gt_segments, pan, segs, sequence=video_id, stamp=stamp)
        if pred_dir is not None:
            stem = Path(sample.file_name).stem
            write_panoptic_png(pred_dir / "panoptic" / f"{stem}.png", pan)
            annotations.append({"image_id": sample.image_id, "file_name": f"{stem}.png", "segments_info": segs})
            images_json.append({"id": sample.image_id, "file_name": sample.file_name, "height": int(pan.shape[0]),
                                "width": int(pan.shape[1]), "video_id": video_id, "stamp": stamp})

    pipe_ms, track_ms = 1000 * np.asarray(pipeline_s), 1000 * np.asarray(tracker_s)
    results = {
        "pq": pq.summarize(),
        "stq": {"tracking": stq_tracked.summarize() if stq_tracked is not None else None,
                "no_tracking": stq_raw.summarize()},
        "tracking": bool(tracking), "frames": len(frames), "videos": len({f[0] for f in frames}),
        "pipeline_ms": _stats(pipe_ms), "tracker_ms": _stats(track_ms) if tracking else None,
        "tracker_share": float(track_ms.mean() / pipe_ms.mean()) if tracking and pipe_ms.mean() > 0 else None,
        "tracker_resets": resets, "model": model_name, "data": str(data), "policy": inf.merge_policy,
        "runtime": getattr(pipeline.runtime, "name", ""), "precision": getattr(pipeline.runtime, "precision", ""),
        "device": str(pipeline.device),
        "track_settings": track_settings(inf),
    }
    if out_dir is not None:
        if pred_dir is not None:
            save_panoptic_json(pred_dir / "panoptic.json", annotations, cats, images_json)
        write_json(out_dir / "metrics.json", results)
    return results


def track_settings(inference) -> dict:
    """The tracker's settings (every ``track_*`` field of the inference section)."""
    return {k: v for k, v in vars(inference).items() if k.startswith("track_")}


def _stats(ms: np.ndarray) -> dict[str, float]:
    if not ms.size:
        return {"mean": float("nan"), "p50": float("nan"), "max": float("nan"), "n": 0}
    return {"mean": float(ms.mean()), "p50": float(np.median(ms)), "max": float(ms.max()), "n": int(ms.size)}


def format_sequence_summary(results: dict) -> str:
    """Console lines: PQ, STQ with / without tracking, ID switches, id keeping, tracker cost."""
    pq = results["pq"]["All"]["pq"]
    lines = [f"PQ {100 * pq:.1f}  ({results['frames']} frames, {results['videos']} video(s), "
             f"policy {results['policy']})"]
    rows: Iterable[tuple[str, dict | None]] = (("tracking", results["stq"]["tracking"]),
                                                ("no tracking", results["stq"]["no_tracking"]))
    for name, m in rows:
        if m is None:
            continue
        keep = m["id_keep"]["fraction"]
        lines.append(f"{name:12s} STQ {100 * m['stq']:.1f}  AQ {100 * m['aq']:.1f}  SQ {100 * m['sq']:.1f}  "
                     f"ID switches/100 frames {m['id_switches_per_100']:.1f}  ids kept "
                     f"{'-' if keep != keep else f'{100 * keep:.1f} %'} of {m['id_keep']['pairs']}")
        lines.append(" " * 13 + format_identity(m.get("identity") or {}))
    if results.get("tracker_share") is not None:
        lines.append(f"tracker {results['tracker_ms']['mean']:.2f} ms/frame = {100 * results['tracker_share']:.1f} % "
                     f"of the pipeline's {results['pipeline_ms']['mean']:.1f} ms")
    return "\n".join(lines)


def format_identity(ident: dict) -> str:
    """One line: IDF1, HOTA, AssA, re-identified returns, wrong merges."""
    if not ident:
        return ""
    reid, merges = ident["reid"], ident["wrong_merges"]
    rate = reid["rate"]
    return (f"IDF1 {100 * ident['idf1']:.1f}  HOTA {100 * ident['hota']:.1f}  AssA {100 * ident['assa']:.1f}  "
            f"re-identified {reid['reidentified']}/{reid['returns']} returns"
            f"{'' if rate != rate else f' ({100 * rate:.0f} %)'}  wrong merges {merges['at_return']} at returns, "
            f"{merges['ids']} ids")
