"""Independent test oracle for panoptic quality (PQ), written from the definition, not from any code.

Sources: Kirillov et al., "Panoptic Segmentation" (CVPR 2019) and the documented rules of the COCO
panoptic evaluation. Deliberately brute force (one boolean mask per segment, explicit loops over segment
pairs, PNGs decoded with PIL) so that it shares no structure with ``panoptic_ros.evaluation.pq``
(which counts a joint histogram of id pairs). Slow; only for tiny test images.

Rules, per image and per category:

1. A predicted segment P and a ground-truth segment G of the same category match when IoU(P, G) > 0.5
   (strictly). IoU = |P∩G| / (|P| + |G| - |P∩G| - |P∩void|): the union leaves out the predicted pixels
   that lie on ground-truth VOID (id 0). |G| is the ground-truth JSON 'area'; |P| is the pixel count of
   P in the prediction PNG. (With |G| >= its pixel count, IoU > 0.5 makes every match one-to-one.)
2. Crowd ground-truth segments (iscrowd = 1) never match. Their pixels form the "crowd region" of
   their category. Under ``crowd_region="union"`` (the definition) that is all crowd segments of the
   category in the image; ``crowd_region="last_listed"`` models the COCO reference's simplification,
   as documented in ``panoptic_ros.evaluation.pq``: only the last crowd segment of the category listed
   in segments_info counts. The two differ only when an image has several crowd segments of one category.
3. An unmatched predicted segment is a false positive (FP) unless
   (|P ∩ void| + |P ∩ crowd region of P's category|) / |P| > 0.5, in which case it is ignored.
4. Every unmatched non-crowd ground-truth segment listed in the JSON is a false negative (FN), also
   when it has no pixels in the PNG.
5. Over the whole dataset, per category: PQ = ΣIoU(TP) / (TP + FP/2 + FN/2), SQ = ΣIoU(TP) / TP
   (0 when TP = 0), RQ = TP / (TP + FP/2 + FN/2). Categories with TP + FP + FN = 0 are excluded.
6. All / Things / Stuff = plain means of PQ, SQ, RQ over the included categories of the group, n = their
   count. With n = 0 the reference divides by zero: the oracle reports that group as None (our evaluator
   reports 0 with n = 0).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

VOID = 0


def decode_png(path: str | Path) -> np.ndarray:
    """A COCO panoptic PNG -> segment ids (id = R + 256 G + 256^2 B), decoded with PIL."""
    rgb = np.array(Image.open(path).convert("RGB"), dtype=np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


def _new_counts():
    return {"iou_sum": 0.0, "tp": 0, "fp": 0, "fn": 0}


def image_counts(gt_map, gt_segments, pred_map, pred_segments, crowd_region: str = "union") -> dict:
    """{category_id: {iou_sum, tp, fp, fn}} of one image, by rules 1-4."""
    if crowd_region not in ("union", "last_listed"):
        raise ValueError(f"crowd_region must be 'union' or 'last_listed', got {crowd_region!r}")
    gt_map, pred_map = np.asarray(gt_map, np.int64), np.asarray(pred_map, np.int64)
    void = gt_map == VOID
    gts = [{"id": int(s["id"]), "cat": int(s["category_id"]), "crowd": int(s.get("iscrowd", 0)) == 1,
            "area": int(s["area"]), "mask": gt_map == int(s["id"])} for s in gt_segments]
    preds = [{"id": int(s["id"]), "cat": int(s["category_id"]), "mask": pred_map == int(s["id"])}
             for s in pred_segments]
    for p in preds:
        p["area"] = int(p["mask"].sum())
        p["on_void"] = int((p["mask"] & void).sum())

    counts: dict[int, dict] = {}

    def of(cat):
        return counts.setdefault(cat, _new_counts())

    # rule 1 (and the "never match" half of rule 2): all same-category pairs, brute force
    gt_matched = [False] * len(gts)
    pred_matched = [False] * len(preds)
    for gi, g in enumerate(gts):
        if g["crowd"]:
            continue
        for pi, p in enumerate(preds):
            if p["cat"] != g["cat"]:
                continue
            inter = int((p["mask"] & g["mask"]).sum())
            if inter == 0:
                continue
            union = p["area"] + g["area"] - inter - p["on_void"]
            if inter / union > 0.5:
                of(g["cat"])["tp"] += 1
                of(g["cat"])["iou_sum"] += inter / union
                gt_matched[gi] = True
                pred_matched[pi] = True

    # rule 2: crowd region per category
    crowd = {}
    for g in gts:
        if not g["crowd"]:
            continue
        if crowd_region == "union" and g["cat"] in crowd:
            crowd[g["cat"]] = crowd[g["cat"]] | g["mask"]
        else:  # first one, or "last_listed": a later segment replaces an earlier one
            crowd[g["cat"]] = g["mask"]

    # rule 4: false negatives
    for gi, g in enumerate(gts):
        if not g["crowd"] and not gt_matched[gi]:
            of(g["cat"])["fn"] += 1

    # rule 3: false positives unless mostly on void or on the own category's crowd region
    for pi, p in enumerate(preds):
        if pred_matched[pi]:
            continue
        on_crowd = int((p["mask"] & crowd[p["cat"]]).sum()) if p["cat"] in crowd else 0
        if (p["on_void"] + on_crowd) / p["area"] > 0.5:
            continue
        of(p["cat"])["fp"] += 1
    return counts


def summarize(counts: dict, categories) -> dict:
    """Rules 5-6 on dataset-wide counts; categories: [{id, isthing}] (the ground truth's list)."""
    per_class = {}
    for c in categories:
        k = counts.get(int(c["id"]), _new_counts())
        tp, fp, fn, iou = k["tp"], k["fp"], k["fn"], k["iou_sum"]
        included = tp + fp + fn > 0
        denom = tp + fp / 2 + fn / 2
        per_class[int(c["id"])] = {
            "included": included, "isthing": bool(c["isthing"]), "tp": tp, "fp": fp, "fn": fn,
            "pq": iou / denom if included else None, "sq": (iou / tp if tp else 0.0) if included else None,
            "rq": tp / denom if included else None}
    result = {"per_class": per_class}
    for group, want in (("All", None), ("Things", True), ("Stuff", False)):
        members = [v for v in per_class.values() if v["included"] and (want is None or v["isthing"] == want)]
        if not members:
            result[group] = None
            continue
        result[group] = {"n": len(members), **{m: sum(v[m] for v in members) / len(members)
                                               for m in ("pq", "sq", "rq")}}
    return result


def oracle_pq(images, categories, crowd_region: str = "union") -> dict:
    """images: iterable of (gt id map, gt segments_info, pred id map, pred segments_info)."""
    total: dict[int, dict] = {}
    for gt_map, gt_segs, pred_map, pred_segs in images:
        for cat, k in image_counts(gt_map, gt_segs, pred_map, pred_segs, crowd_region).items():
            t = total.setdefault(cat, _new_counts())
            for key in t:
                t[key] += k[key]
    return summarize(total, categories)


def oracle_pq_files(gt_json, pred_json, gt_folder, pred_folder, crowd_region: str = "union") -> dict:
    """The same on COCO panoptic files (JSON + PNG folders); predictions are paired by image_id."""
    gt = json.loads(Path(gt_json).read_text())
    pred = json.loads(Path(pred_json).read_text())
    pred_by_image = {a["image_id"]: a for a in pred["annotations"]}
    images = []
    for a in gt["annotations"]:
        p = pred_by_image[a["image_id"]]
        images.append((decode_png(Path(gt_folder) / a["file_name"]), a["segments_info"],
                       decode_png(Path(pred_folder) / p["file_name"]), p["segments_info"]))
    return oracle_pq(images, gt["categories"], crowd_region)
