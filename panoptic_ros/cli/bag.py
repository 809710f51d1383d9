"""`panoptic bag eval | play | record-eval | make-sample`: rosbag2 replay tools (see README "Rosbag tools").

eval and make-sample need only rosbags (no ROS graph); play and record-eval talk to a live ROS 2 graph and are
imported only when run (rclpy). The options are parsed here (bag_options.py); each tool takes an options
dataclass (or keyword arguments), never the Namespace.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import json

from panoptic_ros.ros.bag import make_sample, offline_eval
from panoptic_ros.ros.bag.report import format_eval_report

from . import bag_options
from .options import pipeline_from_args

EVAL_SECTIONS = ("inference", "node")   # what bag eval reads from --config / overrides (node: model, overlay_alpha)
SUBCOMMANDS = {   # command: (help, description, add the arguments)
    "eval": ("run the model offline over a bag's images: output bag, report.json, latency.png, PQ (and STQ on a "
             "video)", offline_eval.__doc__, bag_options.add_eval_arguments),
    "play": ("publish a bag's image topics on the ROS graph with their recorded timing", bag_options.PLAY_HELP,
             bag_options.add_play_arguments),
    "record-eval": ("record a running panoptic_node's outputs: end-to-end latency, drops, PQ",
                    bag_options.RECORD_EVAL_HELP, bag_options.add_record_arguments),
    "make-sample": ("write a synthetic sample bag with ground truth (COCO panoptic layout; --sequence: a video with "
                    "track ids)", make_sample.__doc__, bag_options.add_sample_arguments),
}


def add_parser(subparsers, name: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help="rosbag2 tools: eval, play, record-eval, make-sample",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="bag_command", metavar="BAG_COMMAND", required=True)
    for cmd, (help_text, description, add_arguments) in SUBCOMMANDS.items():
        p = sub.add_parser(cmd, help=help_text, description=description or help_text,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        add_arguments(p)
    return parser


def _options(options_type, args: argparse.Namespace):
    """The tool's options dataclass from the parsed arguments of the same names."""
    names = {f.name for f in dataclasses.fields(options_type)}
    return options_type(**{k: v for k, v in vars(args).items() if k in names})


def run(args) -> int:
    command = args.bag_command
    if command == "eval":
        result = offline_eval.run(_options(offline_eval.BagEvalOptions, args),
                                  lambda: pipeline_from_args(args, EVAL_SECTIONS))
    elif command == "make-sample":
        result = make_sample.make_sample(args.out, frames=args.frames, width=args.width, height=args.height,
                                         seed=args.seed, fps=args.fps, topic=args.topic, frame_id=args.frame_id,
                                         encoding=args.encoding, storage=args.storage, overlap=args.overlap,
                                         force=args.force, sequence=args.sequence)
    elif command == "play":
        play = importlib.import_module("panoptic_ros.ros.bag.play")    # rclpy: only when run
        result = play.run(_options(play.PlayOptions, args))
    else:
        record_eval = importlib.import_module("panoptic_ros.ros.bag.record_eval")   # rclpy: only when run
        result = record_eval.run(_options(record_eval.RecordOptions, args))
    if command == "eval":
        print(format_eval_report(result, args.out))   # the full JSON is report.json
    else:
        print(json.dumps(_summary(result), indent=2))
    signum = result.get("exit_signal") if isinstance(result, dict) else None
    return 128 + int(signum) if signum else 0   # stopped by SIGINT / SIGTERM: partial results, shell convention


def _summary(result: dict) -> dict:
    """The report without its per-frame and per-class lists (those stay in report.json)."""
    out = {k: v for k, v in result.items() if k != "per_frame"}
    if isinstance(out.get("pq"), dict):
        out["pq"] = {k: v for k, v in out["pq"].items() if k != "per_class"}
    return out
