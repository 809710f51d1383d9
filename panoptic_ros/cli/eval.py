"""`panoptic eval --data DIR --out DIR [--model M] [--policy P|all] [section.name=value ...]`: PQ / mIoU / box AP /
FPS of a model.

Writes predictions in COCO panoptic format (out/predictions/panoptic.json + panoptic/*.png) and metrics.json;
with --policy all one sub-folder per policy plus summary.json, and a table on the console. Settings: the
checkpoint's own inference settings, then --config FILE, the overrides and the short flags (cli/options.py).
"""
from __future__ import annotations

import argparse

from .options import add_config_options

SECTIONS = ("inference", "node")  # a trained model fixes the rest; node.model is what --model sets


def add_parser(subparsers, name: str = "eval") -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        name, help="evaluate a model on a COCO panoptic dataset (PQ, mIoU, box AP, FPS)",
        description="Runs the model on every image of DIR (COCO panoptic layout: images/, panoptic/, panoptic.json) "
                    "and writes metrics.json: PQ/SQ/RQ for all/things/stuff and per class, mIoU, box AP "
                    "(pycocotools) and FPS (1000 / median latency from the input image to the panoptic result, "
                    "warm-up excluded). Inference settings: overrides such as inference.score_threshold=0.3 "
                    "inference.input_size=320 (default: the checkpoint's).")
    p.add_argument("--data", required=True, help="dataset folder in COCO panoptic layout")
    p.add_argument("--out", required=True, help="output folder")
    add_config_options(p, flags=("model", "policy", "runtime", "precision", "device", "threads"),
                       extra_choices={"policy": ("all",)},
                       flag_help={"model": "model file (.safetensors with its .json, .onnx, OpenVINO .xml); "
                                           "default: the shipped model",
                                  "policy": "merge policy of the panoptic head, or 'all' = every registered policy "
                                            "(one network pass per image); default: the checkpoint's"})
    p.add_argument("--batch-size", type=int, default=1,
                   help="images per network pass (1 gives the honest per-frame latency)")
    p.add_argument("--max-images", type=int, help="evaluate the first N images only")
    p.add_argument("--warmup", type=int, default=3, help="untimed warm-up runs before timing")
    p.add_argument("--no-predictions", action="store_true", help="write metrics only, no prediction PNGs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--tracking", action=argparse.BooleanOptionalAction, default=None,
                   help="sequence folders (frames with frame_index / video_id / track_id): track segments across "
                        "frames and report STQ with and without tracking, ID switches and the tracker's cost "
                        "(default: inference.tracking)")
    p.add_argument("--oracle", action="store_true",
                   help="each policy's ceiling: merge ground-truth inputs instead of the network's (one-hot semantics, "
                        "boxes and classes with score 1, center offsets, per-pixel instance boxes for dense_iou, mask "
                        "border-ness for paste_borderness, masks at 28x28 for mask_heuristic; docs/policies.md)")
    return p


def run(args) -> int:
    from pathlib import Path

    from panoptic_ros.engine.dataset_eval import evaluate_model, format_summary
    from panoptic_ros.evaluation import format_table
    from panoptic_ros.registry import MERGE_POLICIES

    from .options import check_dataset_folder, pipeline_from_args

    data = check_dataset_folder(args.data)
    if args.batch_size < 1 or args.warmup < 0 or (args.max_images is not None and args.max_images < 1):
        raise ValueError("--batch-size and --max-images must be >= 1, --warmup >= 0")
    from panoptic_ros.engine.sequence_eval import is_sequence_dataset
    if is_sequence_dataset(data):
        if args.policy == "all":
            raise ValueError("--policy all is not supported on a sequence folder: give one policy")
        return _run_sequence(args, data, *pipeline_from_args(args, SECTIONS))
    pipeline, cfg = pipeline_from_args(args, SECTIONS)
    inf = cfg.inference
    policies = list(MERGE_POLICIES) if args.policy == "all" else [inf.merge_policy]
    if args.policy == "all" and not args.oracle:
        policies = _runnable(pipeline, policies)
    results = evaluate_model(pipeline, data, policies=policies, out_dir=args.out, inference=inf,
                             batch_size=args.batch_size, max_images=args.max_images, warmup=args.warmup,
                             write_predictions=not args.no_predictions, progress=not args.no_progress,
                             model_name=str(cfg.node.model or "default"), oracle=args.oracle)
    if len(policies) == 1:
        m = results[policies[0]]
        print(format_table(m["pq"]))
        print(f"mIoU {100 * m['miou']:.1f}  box AP {100 * m['box_ap']['AP']:.1f}  FPS {m['fps']:.1f} "
              f"(p50 {m['latency_ms']['p50']:.1f} ms, {m['device']})  policy {policies[0]}")
        print(f"metrics: {Path(args.out) / 'metrics.json'}")
    else:
        print(format_summary(results))
        print(f"metrics: {Path(args.out)}/<policy>/metrics.json, summary: {Path(args.out) / 'summary.json'}")
    return 0


def _runnable(pipeline, policies: list[str]) -> list[str]:
    """--policy all: every policy the loaded model and runtime can run; the others are named with the reason."""
    import sys

    from panoptic_ros.panoptic.policies import PolicyUnavailable

    runnable = []
    for name in policies:
        try:
            pipeline.check_policy(name)
            runnable.append(name)
        except PolicyUnavailable as exc:
            print(f"skipped: {exc}", file=sys.stderr)
    return runnable


def _run_sequence(args, data, pipeline, cfg) -> int:
    """`panoptic eval` on a sequence folder: PQ, STQ with / without tracking, ID switches, tracker cost."""
    from pathlib import Path

    from panoptic_ros.engine.sequence_eval import evaluate_sequences, format_sequence_summary

    tracking = cfg.inference.tracking if args.tracking is None else args.tracking
    results = evaluate_sequences(pipeline, data, inference=cfg.inference, tracking=tracking, out_dir=args.out,
                                 max_images=args.max_images, warmup=args.warmup,
                                 write_predictions=not args.no_predictions, progress=not args.no_progress,
                                 model_name=str(cfg.node.model or "default"))
    print(format_sequence_summary(results))
    print(f"metrics: {Path(args.out) / 'metrics.json'}")
    return 0
