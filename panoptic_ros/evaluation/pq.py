"""Panoptic quality (PQ, SQ, RQ) exactly as the COCO panoptic reference computes it.

A re-implementation of panopticapi's ``pq_compute`` (cocodataset/panopticapi, evaluation.py:
PQStatCat, PQStat.pq_average, pq_compute_single_core) in one process, with stricter input checks:
mismatched image sizes, segment ids in a PNG but not in its JSON (or listed twice, or id 0), predicted
segments missing from the PNG, unknown categories and images without a prediction raise
:class:`PQInputError` naming the image and file. Where the reference divides by zero (no thing or no
stuff category present at all) the group reports 0 with n = 0.

Matching rules kept from the reference: a predicted and a ground-truth segment of the same category
match when IoU > 0.5, the union excluding the prediction's void pixels; crowd ground truth never
matches; an unmatched prediction is not a false positive when more than half of it lies on void or
on the crowd region of its category (the reference keeps one crowd segment per category and image:
the last one listed).

Two interfaces: :func:`pq_compute` on files (COCO panoptic JSON + PNG folders) and
:class:`PQEvaluator` on in-memory id maps (used by ``panoptic eval``).
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..data.categories import CategoryMap
from ..data.coco_panoptic import PanopticJson, read_panoptic_png
from . import pq_hotcoco

log = logging.getLogger(__name__)

OFFSET = 256 * 256 * 256
VOID = 0
GROUPS = (("All", None), ("Things", True), ("Stuff", False))


class PQInputError(ValueError):
    """Invalid evaluation input (the message names the image and, for files, the file)."""


class PQStatCat:
    """Sums of one category: matched IoU, true positives, false positives, false negatives."""

    def __init__(self):
        self.iou = 0.0
        self.tp = 0
        self.fp = 0
        self.fn = 0

    def __iadd__(self, other: PQStatCat) -> PQStatCat:
        self.iou += other.iou
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        return self


class PQStat:
    """Per-category sums over images; ``+=`` merges two."""

    def __init__(self):
        self.pq_per_cat: dict[int, PQStatCat] = defaultdict(PQStatCat)

    def __getitem__(self, category_id: int) -> PQStatCat:
        return self.pq_per_cat[category_id]

    def __iadd__(self, other: PQStat) -> PQStat:
        for label, cat in other.pq_per_cat.items():
            self.pq_per_cat[label] += cat
        return self

    def pq_average(self, categories: Mapping[int, Mapping], isthing: bool | None) -> tuple[dict, dict]:
        """({pq, sq, rq, n} over the categories with any tp/fp/fn, per-category results); n = 0 -> all 0."""
        pq, sq, rq, n = 0.0, 0.0, 0.0, 0
        per_class = {}
        for label, info in categories.items():
            if isthing is not None and (info.get("isthing", 0) == 1) != isthing:
                continue
            c = self.pq_per_cat[label] if label in self.pq_per_cat else PQStatCat()
            iou, tp, fp, fn = c.iou, c.tp, c.fp, c.fn
            if tp + fp + fn == 0:
                per_class[label] = {"pq": 0.0, "sq": 0.0, "rq": 0.0, "tp": 0, "fp": 0, "fn": 0}
                continue
            n += 1
            pq_class = iou / (tp + 0.5 * fp + 0.5 * fn)
            sq_class = iou / tp if tp != 0 else 0.0
            rq_class = tp / (tp + 0.5 * fp + 0.5 * fn)
            per_class[label] = {"pq": float(pq_class), "sq": float(sq_class), "rq": float(rq_class),
                                "tp": int(tp), "fp": int(fp), "fn": int(fn)}
            pq += pq_class
            sq += sq_class
            rq += rq_class
        if n == 0:
            return {"pq": 0.0, "sq": 0.0, "rq": 0.0, "n": 0}, per_class
        return {"pq": float(pq / n), "sq": float(sq / n), "rq": float(rq / n), "n": n}, per_class


def categories_dict(categories: CategoryMap | Iterable[Mapping] | Mapping[int, Mapping]) -> dict[int, dict]:
    """Category id -> {"isthing": 0|1, ...} from a CategoryMap, a COCO 'categories' list or such a dict."""
    if isinstance(categories, CategoryMap):
        return {c.id: {"id": c.id, "name": c.name, "isthing": int(c.isthing)} for c in categories.categories}
    if isinstance(categories, Mapping):
        return {int(k): dict(v) for k, v in categories.items()}
    return {int(c["id"]): dict(c) for c in categories}


def summarize(stat: PQStat, categories: Mapping[int, Mapping]) -> dict:
    """The metrics layout of ``panoptic pq``: All / Things / Stuff {pq, sq, rq, n} and per_class."""
    results: dict[str, Any] = {}
    for name, isthing in GROUPS:
        results[name], per_class = stat.pq_average(categories, isthing)
        if name == "All":
            all_classes = {str(k): v for k, v in per_class.items()}
    results["per_class"] = all_classes
    return results


def format_table(metrics: dict) -> str:
    """The reference's summary table (values in percent)."""
    lines = ["{:10s}| {:>5s}  {:>5s}  {:>5s} {:>5s}".format("", "PQ", "SQ", "RQ", "N"), "-" * 38]
    for name, _ in GROUPS:
        m = metrics[name]
        lines.append("{:10s}| {:5.1f}  {:5.1f}  {:5.1f} {:5d}".format(
            name, 100 * m["pq"], 100 * m["sq"], 100 * m["rq"], m["n"]))
    return "\n".join(lines)


def _segments_by_id(segments: Iterable[Mapping], what: str) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for seg in segments:
        try:
            sid = int(seg["id"])
            seg = {**seg, "id": sid, "category_id": int(seg["category_id"])}
        except (KeyError, TypeError, ValueError):
            raise PQInputError(f"{what}: every segment needs integer 'id' and 'category_id', got {seg!r}") from None
        if sid == VOID:
            raise PQInputError(f"{what}: segment id 0 is reserved for void")
        if sid in out:
            raise PQInputError(f"{what}: segment id {sid} is listed twice")
        out[sid] = seg
    return out


def _as_id_map(pan: Any, what: str) -> np.ndarray:
    if hasattr(pan, "cpu"):  # torch tensor
        pan = pan.cpu().numpy()
    pan = np.asarray(pan)
    if pan.ndim != 2:
        raise PQInputError(f"{what}: expected a 2-D segment id map, got shape {pan.shape}")
    if pan.size and pan.min() < 0:
        raise PQInputError(f"{what}: negative segment ids")
    return pan.astype(np.uint64, copy=False)


def pq_single(gt_pan: Any, gt_segments: Iterable[Mapping], pred_pan: Any, pred_segments: Iterable[Mapping],
              categories: Mapping[int, Mapping], image: str = "image", gt_file: str = "",
              pred_file: str = "") -> PQStat:
    """PQ sums of one image (panopticapi's per-image loop body plus input checks).

    gt_pan / pred_pan: segment id maps [H,W] (0 = void); *_segments: {id, category_id, iscrowd, area?}.
    Ground-truth areas come from the segments' 'area' like the reference (counted when absent);
    predicted areas are always counted. image / gt_file / pred_file only name things in errors.
    """
    gt_name = f"ground truth {gt_file}" if gt_file else "ground truth"
    pred_name = f"prediction {pred_file}" if pred_file else "prediction"
    gt = _as_id_map(gt_pan, f"{image}: {gt_name}")
    pred = _as_id_map(pred_pan, f"{image}: {pred_name}")
    if gt.shape != pred.shape:
        raise PQInputError(f"{image}: {gt_name} is {gt.shape[1]}x{gt.shape[0]} but {pred_name} is "
                           f"{pred.shape[1]}x{pred.shape[0]}")
    gt_segms = _segments_by_id(gt_segments, f"{image}: ground truth segments")
    pred_segms = _segments_by_id(pred_segments, f"{image}: predicted segments")

    # ground truth checks and areas
    gt_labels, gt_counts = np.unique(gt, return_counts=True)
    gt_area_png = {int(k): int(c) for k, c in zip(gt_labels, gt_counts)}
    missing = sorted(k for k in gt_area_png if k != VOID and k not in gt_segms)
    if missing:
        raise PQInputError(f"{image}: segment ids {missing[:10]} are in the ground-truth PNG {gt_file} but "
                           "not in the ground-truth JSON")
    for sid, seg in gt_segms.items():
        if seg["category_id"] not in categories:
            raise PQInputError(f"{image}: ground-truth segment {sid} has unknown category_id {seg['category_id']}")
        if "area" not in seg:
            seg["area"] = gt_area_png.get(sid, 0)
        seg.setdefault("iscrowd", 0)

    # predicted segments area calculation + prediction sanity checks (as the reference)
    pred_labels_set = set(pred_segms)
    labels, labels_cnt = np.unique(pred, return_counts=True)
    for label, label_cnt in zip(labels.tolist(), labels_cnt.tolist()):
        if label not in pred_segms:
            if label == VOID:
                continue
            raise PQInputError(f"{image}: segment id {label} is in the predicted PNG {pred_file} but not in "
                               "the prediction JSON")
        pred_segms[label]["area"] = label_cnt
        pred_labels_set.remove(label)
        if pred_segms[label]["category_id"] not in categories:
            raise PQInputError(f"{image}: predicted segment {label} has unknown category_id "
                               f"{pred_segms[label]['category_id']}")
    if pred_labels_set:
        raise PQInputError(f"{image}: predicted segment ids {sorted(pred_labels_set)[:10]} are in the prediction "
                           f"JSON but not in the PNG {pred_file}")

    # confusion of (gt id, pred id) pairs
    gt_pred = gt * np.uint64(OFFSET) + pred
    gt_pred_map = {}
    labels, labels_cnt = np.unique(gt_pred, return_counts=True)
    for label, intersection in zip(labels.tolist(), labels_cnt.tolist()):
        gt_pred_map[(label // OFFSET, label % OFFSET)] = intersection

    stat = PQStat()
    gt_matched, pred_matched = set(), set()
    for (gt_label, pred_label), intersection in gt_pred_map.items():
        if gt_label not in gt_segms or pred_label not in pred_segms:
            continue
        g, p = gt_segms[gt_label], pred_segms[pred_label]
        if g["iscrowd"] == 1 or g["category_id"] != p["category_id"]:
            continue
        union = p["area"] + g["area"] - intersection - gt_pred_map.get((VOID, pred_label), 0)
        iou = intersection / union
        if iou > 0.5:
            stat[g["category_id"]].tp += 1
            stat[g["category_id"]].iou += iou
            gt_matched.add(gt_label)
            pred_matched.add(pred_label)

    # false negatives; crowd regions are remembered per category (the last one wins, as in the reference)
    crowd_by_cat = {}
    for gt_label, g in gt_segms.items():
        if gt_label in gt_matched:
            continue
        if g["iscrowd"] == 1:
            crowd_by_cat[g["category_id"]] = gt_label
            continue
        stat[g["category_id"]].fn += 1

    # false positives, unless mostly on void or on a crowd region of the same category
    for pred_label, p in pred_segms.items():
        if pred_label in pred_matched:
            continue
        intersection = gt_pred_map.get((VOID, pred_label), 0)
        if p["category_id"] in crowd_by_cat:
            intersection += gt_pred_map.get((crowd_by_cat[p["category_id"]], pred_label), 0)
        if intersection / p["area"] > 0.5:
            continue
        stat[p["category_id"]].fp += 1
    return stat


class PQEvaluator:
    """Accumulates PQ over images given in memory; ``summarize()`` gives the ``panoptic pq`` layout.

    categories: CategoryMap, COCO 'categories' list or {id: {"isthing": ..}}; segment category ids are
    dataset category ids (convert model outputs with :func:`result_to_coco`).
    """

    def __init__(self, categories: CategoryMap | Iterable[Mapping] | Mapping[int, Mapping]):
        self.categories = categories_dict(categories)
        self.stat = PQStat()
        self.num_images = 0

    def add(self, gt_pan: Any, gt_segments: Iterable[Mapping], pred_pan: Any, pred_segments: Iterable[Mapping],
            image_id: Any = None) -> None:
        name = f"image {image_id!r}" if image_id is not None else f"image #{self.num_images}"
        self.stat += pq_single(gt_pan, gt_segments, pred_pan, pred_segments, self.categories, image=name)
        self.num_images += 1

    def summarize(self) -> dict:
        return summarize(self.stat, self.categories)


def result_to_coco(result: Any, categories: CategoryMap) -> tuple[np.ndarray, list[dict]]:
    """A fuse() PanopticResult (category_id = channel index, 0 = unknown) -> (id map, COCO segments_info)."""
    pan = result.panoptic.cpu().numpy() if hasattr(result.panoptic, "cpu") else np.asarray(result.panoptic)
    segments = []
    for seg in result.segments:
        cat = categories.category(int(seg["category_id"]))
        segments.append({"id": int(seg["id"]), "category_id": cat.id, "iscrowd": 0, "isthing": int(cat.isthing),
                         "score": float(seg.get("score", 1.0)), "bbox": [float(v) for v in seg.get("bbox", [])],
                         "area": int(seg.get("area", 0))})
    return pan.astype(np.int32), segments


def pq_compute(gt_json: str | Path, pred_json: str | Path, gt_folder: str | Path | None = None,
               pred_folder: str | Path | None = None, progress: bool = True,
               categories: CategoryMap | Iterable[Mapping] | None = None, engine: str = "auto") -> dict:
    """PQ of a prediction folder against a ground-truth folder, both in COCO panoptic format.

    Folders default to the JSON path without ``.json`` (panopticapi's convention). categories: the category list
    to score with instead of the ground-truth JSON's (e.g. panopticapi's categories file; then the JSON may have
    none). engine: "auto" (hotcoco when installed), "hotcoco" or "reference" (this module). Returns the metrics
    dict (fractions). Errors (PQInputError / FileNotFoundError) name the file and image, whatever the engine.
    """
    engine = pq_hotcoco.resolve(engine)
    gt_json, pred_json = Path(gt_json), Path(pred_json)
    gt = PanopticJson.load(gt_json, require_categories=categories is None)
    pred = PanopticJson.load(pred_json, require_categories=False)
    gt_folder = Path(gt_folder) if gt_folder is not None else gt_json.with_suffix("")
    pred_folder = Path(pred_folder) if pred_folder is not None else pred_json.with_suffix("")
    for what, folder in (("ground-truth segmentation folder", gt_folder), ("predicted segmentation folder",
                                                                         pred_folder)):
        if not folder.is_dir():
            raise FileNotFoundError(f"{what} not found: {folder}")
    categories = categories_dict(categories if categories is not None else gt.categories)
    pred_by_image = {ann["image_id"]: ann for ann in pred.annotations}
    missing = [ann["image_id"] for ann in gt.annotations if ann["image_id"] not in pred_by_image]
    if missing:
        raise PQInputError(f"{pred_json}: no prediction for {len(missing)} of {len(gt.annotations)} images "
                           f"(image ids {missing[:5]}{' ...' if len(missing) > 5 else ''})")
    extra = len(pred_by_image) - len(gt.annotations)
    if extra > 0:
        log.warning("%s: %d predictions for images not in the ground truth are ignored", pred_json, extra)

    if engine == "hotcoco":
        _check_json_segments(gt.annotations, pred_by_image, categories)
        try:
            return pq_hotcoco.evaluate({"annotations": gt.annotations, "images": list(gt.images.values())},
                                       {"annotations": [pred_by_image[a["image_id"]] for a in gt.annotations]},
                                       str(gt_folder), str(pred_folder), categories)
        except (ValueError, OSError, RuntimeError, KeyError) as exc:
            # the reference below names the image and file (or, if it accepts the input, gives the numbers)
            log.debug("hotcoco refused the input (%s): running the reference evaluator", exc)

    stat = PQStat()
    anns = gt.annotations
    if progress:
        anns = tqdm(anns, desc="pq", unit="img")
    for gt_ann in anns:
        pred_ann = pred_by_image[gt_ann["image_id"]]
        gt_path, pred_path = gt_folder / gt_ann["file_name"], pred_folder / pred_ann["file_name"]
        stat += pq_single(read_panoptic_png(gt_path), gt_ann["segments_info"], read_panoptic_png(pred_path),
                          pred_ann["segments_info"], categories, image=f"image {gt_ann['image_id']!r}",
                          gt_file=str(gt_path), pred_file=str(pred_path))
    return summarize(stat, categories)


def _check_json_segments(gt_annotations: list[dict], pred_by_image: Mapping[Any, dict],
                         categories: Mapping[int, Mapping]) -> None:
    """The checks hotcoco does not make, on the JSONs alone: integer ids, no id 0 or id listed twice, ground-truth
    categories known (the reference's messages)."""
    for gt_ann in gt_annotations:
        image = f"image {gt_ann['image_id']!r}"
        for sid, seg in _segments_by_id(gt_ann["segments_info"], f"{image}: ground truth segments").items():
            if seg["category_id"] not in categories:
                raise PQInputError(f"{image}: ground-truth segment {sid} has unknown category_id "
                                   f"{seg['category_id']}")
        _segments_by_id(pred_by_image[gt_ann["image_id"]]["segments_info"], f"{image}: predicted segments")
