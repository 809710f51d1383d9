"""`panoptic bag eval | play | record-eval | make-sample`: rosbag2 replay tools (see README "Rosbag tools").

eval and make-sample need only rosbags (no ROS graph); play and record-eval talk to a live ROS 2 graph.
All ROS imports happen inside run().
"""
from __future__ import annotations

import argparse
import importlib
import json

SUBCOMMANDS = {
    "eval": ("offline_eval", "run the model offline over a bag's images: output bag, report.json, latency.png, PQ "
                             "(and STQ on a video)"),
    "play": ("play", "publish a bag's image topics on the ROS graph with their recorded timing"),
    "record-eval": ("record_eval", "record a running panoptic_node's outputs: end-to-end latency, drops, PQ"),
    "make-sample": ("make_sample", "write a synthetic sample bag with ground truth (COCO panoptic layout; "
                                   "--sequence: a video with track ids)"),
}


def add_parser(subparsers, name: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help="rosbag2 tools: eval, play, record-eval, make-sample",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="bag_command", metavar="BAG_COMMAND", required=True)
    for cmd, (module, help_text) in SUBCOMMANDS.items():
        mod = importlib.import_module(f"panoptic_ros.ros.bag.{module}")
        p = sub.add_parser(cmd, help=help_text, description=(mod.__doc__ or help_text),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_bag_module=module)
    return parser


def run(args) -> int:
    mod = importlib.import_module(f"panoptic_ros.ros.bag.{args._bag_module}")
    result = mod.run(args)
    print(json.dumps(_summary(result), indent=2))
    signum = result.get("exit_signal") if isinstance(result, dict) else None
    return 128 + int(signum) if signum else 0   # stopped by SIGINT / SIGTERM: partial results, shell convention


def _summary(result: dict) -> dict:
    """The report without its per-frame and per-class lists (those stay in report.json)."""
    out = {k: v for k, v in result.items() if k != "per_frame"}
    if isinstance(out.get("pq"), dict):
        out["pq"] = {k: v for k, v in out["pq"].items() if k != "per_class"}
    return out
