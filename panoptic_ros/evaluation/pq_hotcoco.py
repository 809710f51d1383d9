"""hotcoco (Rust, pycocotools-compatible) as the fast PQ engine of :func:`panoptic_ros.evaluation.pq.pq_compute`.

Why: the reference implementation in pq.py decodes and counts in numpy (about 3 s per 200 COCO-sized images);
hotcoco computes the same panopticapi numbers about 15-30x faster. pq.py stays the reference: tests compare the two
on generated data, and every input hotcoco refuses is re-run through the reference so the user gets this project's
one-line error naming the image and file. The JSON-level checks hotcoco does not make (segment id 0, ids listed
twice, unknown categories in the ground truth) run here before it. The one check left to the reference engine:
a segment id in a ground-truth PNG but not in its JSON (finding it means decoding every ground-truth PNG in Python,
the cost hotcoco avoids); hotcoco lets that region match nothing (`panoptic pq --engine reference` reports it).
"""
from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any

ENGINES = ("auto", "hotcoco", "reference")


def available() -> bool:
    """True when the optional hotcoco package is installed."""
    return importlib.util.find_spec("hotcoco") is not None


def resolve(engine: str) -> str:
    """'auto' -> 'hotcoco' when installed, else 'reference'; an unknown or missing engine is a ValueError."""
    if engine not in ENGINES:
        raise ValueError(f"PQ engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if engine == "auto":
        return "hotcoco" if available() else "reference"
    if engine == "hotcoco" and not available():
        raise ValueError("PQ engine hotcoco is not installed (pip install hotcoco, pinned in requirements.txt)")
    return engine


def evaluate(gt_data: dict, pred_data: dict, gt_folder: str, pred_folder: str,
             categories: Mapping[int, Mapping]) -> dict[str, Any]:
    """hotcoco's PQ of already loaded and checked JSONs, in pq.summarize()'s layout (per_class over categories).

    Raises whatever hotcoco raises on bad input (the caller falls back to the reference for the message).
    """
    from hotcoco import panoptic

    gt = {**gt_data, "categories": [dict(v, id=k) for k, v in categories.items()]}
    ev = panoptic.PanopticEval(gt, pred_data, gt_folder=str(gt_folder), pred_folder=str(pred_folder))
    ev.evaluate()
    res = ev.results()
    out: dict[str, Any] = {}
    for group in ("All", "Things", "Stuff"):
        g = res.get(group) or {}
        n = int(g.get("n", 0) or 0)
        out[group] = {k: float(g.get(k, 0.0)) if n else 0.0 for k in ("pq", "sq", "rq")} | {"n": n}
    per_class = res.get("per_class") or {}
    out["per_class"] = {}
    for cat_id in categories:
        c = per_class.get(str(cat_id)) or per_class.get(cat_id) or {}
        tp, fp, fn = int(c.get("tp", 0)), int(c.get("fp", 0)), int(c.get("fn", 0))
        seen = tp + fp + fn > 0
        out["per_class"][str(cat_id)] = {"pq": float(c.get("pq", 0.0)) if seen else 0.0,
                                         "sq": float(c.get("sq", 0.0)) if seen else 0.0,
                                         "rq": float(c.get("rq", 0.0)) if seen else 0.0,
                                         "tp": tp, "fp": fp, "fn": fn}
    return out
