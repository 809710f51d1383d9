"""`panoptic bag eval | play | record-eval | make-sample`: rosbag2 replay tools (see README "Rosbag tools").

eval and make-sample need only rosbags (no ROS graph); play and record-eval talk to a live ROS 2 graph.
All ROS imports happen inside run(). The options of `bag eval` are parsed here (its module takes a
BagEvalOptions); the other tools still declare their own.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
from pathlib import Path

from panoptic_ros.ros.bag import offline_eval
from panoptic_ros.ros.bag.writer import DEFAULT_NAMESPACE

from .options import add_config_options, pipeline_from_args

SUBCOMMANDS = {
    "eval": ("offline_eval", "run the model offline over a bag's images: output bag, report.json, latency.png, PQ "
                             "(and STQ on a video)"),
    "play": ("play", "publish a bag's image topics on the ROS graph with their recorded timing"),
    "record-eval": ("record_eval", "record a running panoptic_node's outputs: end-to-end latency, drops, PQ"),
    "make-sample": ("make_sample", "write a synthetic sample bag with ground truth (COCO panoptic layout; "
                                   "--sequence: a video with track ids)"),
}
EVAL_SECTIONS = ("inference", "node")   # what bag eval reads from --config / overrides (node: model, overlay_alpha)


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bag", required=True, help="rosbag2 directory, .mcap or .db3 file")
    p.add_argument("--topic", default=None,
                   help="image topic (sensor_msgs/Image or CompressedImage); may be left out when the bag has one")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--gt", type=Path, default=None,
                   help="ground truth in COCO panoptic layout (DIR/panoptic.json, DIR/panoptic/) -> PQ/SQ/RQ")
    add_config_options(p, flags=("model", "policy", "runtime", "precision", "device"),
                       flag_help={"model": "model file (.safetensors with its .json, .onnx, OpenVINO .xml); "
                                           "default: the shipped model",
                                  "policy": "merge policy (default: the checkpoint's)"})
    p.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="namespace of the output topics")
    p.add_argument("--no-overlay", action="store_true", help="do not render/write the overlay topic")
    p.add_argument("--skip-output", action="append", default=[], metavar="NAME",
                   help="leave an output topic out of the bag (repeatable; --no-overlay = --skip-output overlay)")
    p.add_argument("--save-overlays", type=int, default=10, metavar="N", help="overlay JPEGs to keep (0 = none)")
    p.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0 = all)")
    p.add_argument("--warmup", type=int, default=1, help="first frames left out of the latency statistics")
    p.add_argument("--tracking", action=argparse.BooleanOptionalAction, default=None,
                   help="stable segment ids across frames (default: inference.tracking, on)")
    p.add_argument("--report-every", type=float, default=5.0, metavar="S",
                   help="rewrite report.json every S seconds during the run (0 = only at the end)")


def run_eval(args) -> dict:
    names = {f.name for f in dataclasses.fields(offline_eval.BagEvalOptions)}
    options = offline_eval.BagEvalOptions(**{k: v for k, v in vars(args).items() if k in names})
    return offline_eval.run(options, lambda: pipeline_from_args(args, EVAL_SECTIONS))


def add_parser(subparsers, name: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help="rosbag2 tools: eval, play, record-eval, make-sample",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="bag_command", metavar="BAG_COMMAND", required=True)
    for cmd, (module, help_text) in SUBCOMMANDS.items():
        mod = importlib.import_module(f"panoptic_ros.ros.bag.{module}")
        p = sub.add_parser(cmd, help=help_text, description=(mod.__doc__ or help_text),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        if cmd == "eval":
            add_eval_arguments(p)
        else:
            mod.add_arguments(p)
        p.set_defaults(_bag_module=module)
    return parser


def run(args) -> int:
    if args.bag_command == "eval":
        result = run_eval(args)
    else:
        result = importlib.import_module(f"panoptic_ros.ros.bag.{args._bag_module}").run(args)
    print(json.dumps(_summary(result), indent=2))
    signum = result.get("exit_signal") if isinstance(result, dict) else None
    return 128 + int(signum) if signum else 0   # stopped by SIGINT / SIGTERM: partial results, shell convention


def _summary(result: dict) -> dict:
    """The report without its per-frame and per-class lists (those stay in report.json)."""
    out = {k: v for k, v in result.items() if k != "per_frame"}
    if isinstance(out.get("pq"), dict):
        out["pq"] = {k: v for k, v in out["pq"].items() if k != "per_class"}
    return out
