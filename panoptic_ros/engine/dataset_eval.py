"""Evaluation loop of `panoptic eval` (and of validation during training).

For each image of a dataset in COCO panoptic layout the network runs once; its outputs are fused with every
requested merge policy. Metrics per policy: PQ / SQ / RQ (All, Things, Stuff, per class; COCO reference
semantics), mIoU of the semantic branch, box AP of the detection branch (pycocotools) and speed. Speed is the
wall time from the input image (uint8 numpy, as a camera gives it) to the PanopticResult, measured per stage so
each policy gets its own honest latency (common part + its fuse); warm-up runs are excluded.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from panoptic_ros.data import CocoPanopticDataset, save_panoptic_json, write_panoptic_png
from panoptic_ros.data.categories import IGNORE_LABEL
from panoptic_ros.evaluation import BoxAPEvaluator, PQEvaluator, SemanticEvaluator, result_to_coco
from panoptic_ros.evaluation.oracle import oracle_prediction
from panoptic_ros.pipeline import PanopticPipeline, build_pipeline
from panoptic_ros.registry import MERGE_POLICIES

from ..evaluation.prediction import ImagePrediction
from ..utils.json_io import write_json

log = logging.getLogger(__name__)

def as_pipeline(model, inference=None):
    """A PanopticPipeline as given, or a torch-runtime pipeline around a PanopticModel (training's validation)."""

    if isinstance(model, PanopticPipeline):
        return model
    return build_pipeline(model, runtime="torch", device=str(model.device), inference=inference or model.cfg.inference)


def run_policies(pipeline, images: list, policies: Sequence[str], inference=None) -> list[ImagePrediction]:
    """One pipeline run over a batch of images, merged with each policy; per-image predictions and times."""
    inf = inference or pipeline.cfg.inference
    run = pipeline.run(images, inference=inf, policies=policies, semantic=True)
    n = len(images)
    common = {k: v / n for k, v in run.stage_seconds(policies[0]).items() if k != "merge"}
    out = []
    for i, (in_size, out_size) in enumerate(zip(run.prepared.input_sizes, run.prepared.original_sizes)):
        d = run.detections[i]
        out.append(ImagePrediction(
            results={p: run.results[p][i] for p in policies}, semantic=run.semantic[i],
            boxes=d.in_image(in_size, out_size).cpu(), scores=d.scores.float().cpu(), labels=d.labels.cpu(),
            common_s=sum(common.values()), fuse_s={p: run.seconds.get(f"merge:{p}", 0.0) / n for p in policies},
            stages_s=common))
    return out


def gt_semantic(gt_pan: np.ndarray, segments: list[dict], categories) -> np.ndarray:
    """Channel index per pixel of a ground-truth panoptic map; 255 on void and crowd pixels."""
    ids = np.asarray(gt_pan)

    out = np.full(ids.shape, IGNORE_LABEL, dtype=np.int64)
    for seg in segments:
        if int(seg.get("iscrowd", 0)):
            continue
        out[ids == int(seg["id"])] = categories.index(int(seg["category_id"]))
    return out


class DatasetMetrics:
    """Accumulates PQ (per policy), mIoU, box AP and per-image latencies over a dataset."""

    def __init__(self, categories, policies: Sequence[str]):
        self.categories = categories
        self.policies = list(policies)
        self.pq = {p: PQEvaluator(categories) for p in self.policies}
        self.semantic = SemanticEvaluator(categories)
        self.box_ap = BoxAPEvaluator(categories)
        self.latency_s: dict[str, list[float]] = {p: [] for p in self.policies}
        self.stages_s: dict[str, list[float]] = {}
        self.num_images = 0

    def add(self, image_id: Any, gt_pan: np.ndarray, gt_segments: list[dict], pred: ImagePrediction,
            timed: bool = True) -> dict[str, tuple[np.ndarray, list[dict]]]:
        """Add one image; returns policy -> (id map, COCO segments with dataset ids) for writing."""

        h, w = np.asarray(gt_pan).shape
        coco = {}
        for p in self.policies:
            pan, segs = result_to_coco(pred.results[p], self.categories)
            if pan.shape != (h, w):
                raise ValueError(f"image {image_id!r}: prediction is {pan.shape[1]}x{pan.shape[0]} but the ground "
                                 f"truth is {w}x{h}")
            self.pq[p].add(gt_pan, gt_segments, pan, segs, image_id=image_id)
            coco[p] = (pan, segs)
            if timed:
                self.latency_s[p].append(pred.common_s + pred.fuse_s[p])
        if timed:
            for k, v in {**pred.stages_s, **{f"fuse_{p}": pred.fuse_s[p] for p in self.policies}}.items():
                self.stages_s.setdefault(k, []).append(v)
        self.semantic.add(pred.semantic.numpy(), gt_semantic(gt_pan, gt_segments, self.categories))
        self.box_ap.add_segments(image_id, gt_segments, pred.boxes, pred.scores, pred.labels, height=h, width=w,
                                 id_map=gt_pan)
        self.num_images += 1
        return coco

    def summarize(self) -> dict[str, dict]:
        """policy -> metrics dict (see evaluate_model)."""
        sem = self.semantic.summarize()
        box = self.box_ap.summarize()
        stages = {k: 1000 * float(np.median(v)) for k, v in self.stages_s.items()}
        out = {}
        for p in self.policies:
            lat = np.asarray(self.latency_s[p], dtype=np.float64) * 1000
            med = float(np.median(lat)) if lat.size else float("nan")
            out[p] = {
                "policy": p,
                "num_images": self.num_images,
                "pq": self.pq[p].summarize(),
                "miou": sem["miou"], "pixel_accuracy": sem["pixel_accuracy"], "per_class_iou": sem["per_class_iou"],
                "box_ap": box,
                "fps": 1000.0 / med if lat.size and med > 0 else 0.0,
                "latency_ms": {"p50": med, "p90": _pct(lat, 90), "p99": _pct(lat, 99),
                               "mean": float(lat.mean()) if lat.size else float("nan"), "n": int(lat.size)},
                "stages_ms": {k: v for k, v in stages.items() if not k.startswith("fuse_") or k == f"fuse_{p}"},
            }
        return out


def _pct(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if values.size else float("nan")


def evaluate_model(model, data: str | Path, *, policies: Sequence[str] | None = None, out_dir: str | Path | None = None,
                   inference=None, batch_size: int = 1, max_images: int | None = None, warmup: int = 3,
                   write_predictions: bool = True, progress: bool = True, model_name: str = "",
                   oracle: bool = False) -> dict[str, dict]:
    """Evaluate `model` on the dataset folder `data` -> {policy: metrics}; writes files when out_dir is given.

    metrics: {"pq": {"All"/"Things"/"Stuff": {pq, sq, rq, n}, "per_class": {...}} (as pq_compute), "miou",
    "per_class_iou", "box_ap": {AP, AP50, AP75, ...}, "fps" (1000 / median latency), "latency_ms": {p50, p90, p99},
    "stages_ms", "policy", "model", "data", "num_images", "device"}. One policy: out_dir/metrics.json and
    out_dir/predictions/{panoptic.json, panoptic/*.png}; several: the same under out_dir/<policy>/ plus
    out_dir/summary.json.
    oracle: the policies run on ground-truth inputs instead of the network's (evaluation/oracle.py; the time is
    the merge alone, at the image resolution).
    """


    inf = inference or model.cfg.inference
    policies = list(policies or [inf.merge_policy])
    unknown = [p for p in policies if p not in MERGE_POLICIES]
    if unknown or len(set(policies)) != len(policies):
        raise ValueError(f"policies must be distinct names from {', '.join(MERGE_POLICIES.names())}, got {policies}")
    pipeline = as_pipeline(model, inf)
    if not oracle:
        for p in policies:
            pipeline.check_policy(p)  # a policy whose head the model lacks fails here, before any work
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    dataset = CocoPanopticDataset(data)
    _check_categories(model.categories, dataset.categories, dataset.ann_json)
    n = len(dataset) if max_images is None else min(len(dataset), max(0, int(max_images)))
    if n == 0:
        raise ValueError(f"{dataset.ann_json}: no images to evaluate")
    out_dir = Path(out_dir) if out_dir is not None else None
    multi = len(policies) > 1
    pred_dirs = {}
    if out_dir is not None and write_predictions:
        for p in policies:
            d = (out_dir / p if multi else out_dir) / "predictions"
            (d / "panoptic").mkdir(parents=True, exist_ok=True)
            pred_dirs[p] = d
    annotations: dict[str, list[dict]] = {p: [] for p in policies}
    images_json = []

    metrics = DatasetMetrics(model.categories, policies)
    for _ in range(max(0, warmup) if not oracle else 0):  # warm-up: allocator, kernels, thread pools (not timed)
        run_policies(pipeline, [dataset.load_image(0)], policies, inf)

    bar = tqdm(range(0, n, batch_size), desc=f"eval {Path(data).name}", unit="batch" if batch_size > 1 else "img",
               disable=not progress, dynamic_ncols=True)
    for start in bar:
        idxs = list(range(start, min(n, start + batch_size)))
        if oracle:
            gts = [dataset.load_panoptic(i) for i in idxs]
            images = [gt[0] for gt in gts]  # only their sizes are used below
            preds = [oracle_prediction(gt[0], gt[1], model.categories, policies, inf) for gt in gts]
        else:
            images = [dataset.load_image(i) for i in idxs]
            preds = run_policies(pipeline, images, policies, inf)
        for i, image, pred in zip(idxs, images, preds):
            sample = dataset.samples[i]
            gt_pan, gt_segments = dataset.load_panoptic(i)
            coco = metrics.add(sample.image_id, gt_pan, gt_segments, pred)
            stem = Path(sample.file_name).stem
            images_json.append({"id": sample.image_id, "file_name": sample.file_name,
                                "height": int(image.shape[0]), "width": int(image.shape[1])})
            for p, (pan, segs) in coco.items():
                annotations[p].append({"image_id": sample.image_id, "file_name": f"{stem}.png",
                                       "segments_info": segs})
                if p in pred_dirs:
                    write_panoptic_png(pred_dirs[p] / "panoptic" / f"{stem}.png", pan)
        if policies:
            lat = metrics.latency_s[policies[0]]
            bar.set_postfix(ms=f"{1000 * float(np.median(lat)):.0f}" if lat else "-", refresh=False)
    bar.close()

    results = metrics.summarize()
    info = {"model": model_name, "data": str(data), "device": str(pipeline.device), "batch_size": batch_size,
            "input_size": inf.input_size, "warmup": warmup, "runtime": getattr(pipeline.runtime, "name", ""),
            "precision": getattr(pipeline.runtime, "precision", ""), "fuse_resolution": inf.fuse_resolution,
            "oracle": oracle}
    for p in policies:
        results[p].update(info)
        if out_dir is not None:
            base = out_dir / p if multi else out_dir
            if p in pred_dirs:
                save_panoptic_json(pred_dirs[p] / "panoptic.json", annotations[p], model.categories, images_json)
            write_json(base / "metrics.json", results[p])
    if out_dir is not None and multi:
        write_json(out_dir / "summary.json", summary_table(results))
    return results


def summary_table(results: dict[str, dict]) -> dict[str, dict]:
    """policy -> the headline numbers (percent for quality metrics)."""
    out = {}
    for p, m in results.items():
        pq = m["pq"]
        out[p] = {"PQ": 100 * pq["All"]["pq"], "SQ": 100 * pq["All"]["sq"], "RQ": 100 * pq["All"]["rq"],
                  "PQ_th": 100 * pq["Things"]["pq"], "PQ_st": 100 * pq["Stuff"]["pq"], "mIoU": 100 * m["miou"],
                  "AP": 100 * m["box_ap"]["AP"], "FPS": m["fps"], "latency_ms_p50": m["latency_ms"]["p50"]}
    return out


def format_summary(results: dict[str, dict]) -> str:
    """A fixed-width table of summary_table() for the console."""
    rows = summary_table(results)
    cols = ("PQ", "PQ_th", "PQ_st", "SQ", "RQ", "mIoU", "AP", "FPS")
    lines = [f"{'policy':20s}" + "".join(f"{c:>8s}" for c in cols)]
    for p, r in rows.items():
        lines.append(f"{p:20s}" + "".join(f"{r[c]:8.1f}" for c in cols))
    return "\n".join(lines)


def _check_categories(model_cats, data_cats, where) -> None:
    """The model's classes must be the dataset's (same ids and thing/stuff split); one line saying how they differ
    (counts and a few names, not every id: a COCO folder has 133)."""
    m = {c.id: c for c in model_cats.categories}
    d = {c.id: c for c in data_cats.categories}
    if {k: c.isthing for k, c in m.items()} == {k: c.isthing for k, c in d.items()}:
        return

    def few(cats, ids):
        names = [f"{cats[k].name} ({k})" for k in ids[:4]]
        return ", ".join(names) + (f" and {len(ids) - 4} more" if len(ids) > 4 else "")

    only_m, only_d = sorted(set(m) - set(d)), sorted(set(d) - set(m))
    flipped = sorted(k for k in set(m) & set(d) if m[k].isthing != d[k].isthing)
    parts = [f"only in the model: {few(m, only_m)}"] if only_m else []
    parts += [f"only in the dataset: {few(d, only_d)}"] if only_d else []
    parts += [f"thing/stuff differs: {few(m, flipped)}"] if flipped else []
    raise ValueError(f"{where}: the model knows {len(m)} classes, the dataset has {len(d)} ({'; '.join(parts)}): "
                     "evaluate a model trained on this dataset's classes (docs/recipes.md; `panoptic convert` starts "
                     "one from COCO weights)")
