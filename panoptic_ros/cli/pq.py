"""`panoptic pq`: panoptic quality of predictions in COCO panoptic format (same numbers as panopticapi)."""
from __future__ import annotations

import argparse

from panoptic_ros.evaluation.pq_hotcoco import ENGINES


def add_parser(subparsers, name: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(name, help="PQ / SQ / RQ of COCO panoptic predictions against ground truth",
                              description="Evaluate panoptic predictions (JSON + PNG folder) against ground truth "
                                          "like the COCO panoptic reference (panopticapi pq_compute).")
    p.add_argument("--gt-json", required=True, help="ground-truth COCO panoptic JSON")
    p.add_argument("--gt-folder", default=None, help="ground-truth PNG folder (default: GT_JSON without .json)")
    p.add_argument("--pred-json", required=True, help="prediction COCO panoptic JSON")
    p.add_argument("--pred-folder", default=None, help="prediction PNG folder (default: PRED_JSON without .json)")
    p.add_argument("--categories", default=None, metavar="FILE",
                   help="the categories to score with instead of GT_JSON's: a COCO panoptic JSON or panopticapi's "
                        "categories file (panoptic_coco_categories.json, a bare list)")
    p.add_argument("--engine", default="auto", choices=ENGINES,
                   help="auto: hotcoco (Rust, same numbers, ~20x faster) when installed, else reference (this "
                        "package's implementation); default %(default)s")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (reference engine)")
    p.add_argument("--out", default=None, help="write the metrics to this JSON file")
    return p


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from panoptic_ros.data.category_file import read_categories
    from panoptic_ros.evaluation.pq import format_table, pq_compute
    from panoptic_ros.utils.json_io import write_json

    categories = read_categories(args.categories) if args.categories else None
    metrics = pq_compute(args.gt_json, args.pred_json, args.gt_folder, args.pred_folder,
                         progress=not args.no_progress, categories=categories, engine=args.engine)
    print(format_table(metrics))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_json(out, metrics)
        print(f"metrics written to {out}")
    return 0
