"""The options of `panoptic bag eval | play | record-eval | make-sample`, and the help of the two tools that talk to a
live ROS graph (their modules import rclpy, so they are imported only when run).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from panoptic_ros.ros.bag.make_sample import ENCODINGS
from panoptic_ros.ros.bag.writer import DEFAULT_NAMESPACE

from .options import add_config_options

PLAY_HELP = """`panoptic bag play`: publish a bag's image topics on the live ROS graph with their recorded timing.

Messages go out exactly as recorded (serialized bytes, no decode/re-encode), spaced by their bag timestamps
divided by --rate, so a running panoptic_node sees what the camera produced. QoS: RELIABLE, keep last 10
by default: a reliable publisher reaches reliable and best-effort subscribers, and reliable delivery gets
every camera-sized frame across processes. The process uses the package's Fast DDS profile (a large
shared-memory segment, see panoptic_ros/ros/transport.py) so even --qos best_effort, which reproduces a
best-effort camera driver, delivers 640x480 and 1280x720 frames.

--publish-log FILE writes one JSON line per published frame ({"index", "topic", "stamp_ns" (as published),
"bag_stamp_ns" (as recorded), "publish_ns" (time.time_ns() just before publish)}) and a last line
{"done": true, ...}: `panoptic bag record-eval --publish-log FILE` uses it for end-to-end latency and to map
received outputs back to bag indices (ground truth)."""

RECORD_EVAL_HELP = """\
`panoptic bag record-eval`: subscribe to a running panoptic_node's outputs and measure it end to end.

Latency of a frame = arrival time of its ``~/panoptic`` output here minus the time the player published
the input with the same header stamp (both time.time_ns() on this machine). Publish times come from the
player's --publish-log (exact), or, without it, from the arrival of the input on --input-topic here (one
transport hop later than the real publish). Frames the node dropped (it only processes the newest one)
never get an output: drop rate = 1 - received / sent. Throughput = received frames / their arrival span.

Everything received is written to an mcap bag (raw, as the node sent it) with overlay JPEGs next to it;
with --gt the received panoptic images are scored against the ground truth (see groundtruth.py): PQ, and STQ
with ID switches per 100 frames when the ground truth is a video (the ids are the node's own: stable ones
with its tracking parameter on).
Which topics exist, their types and how a message is decoded come from outputs.OUTPUTS (the node's list).

Memory stays bounded however fast the node publishes and however slow scoring is: the callbacks only stamp
arrivals and hand raw messages to one worker thread through a queue of --queue-size messages (when it is
full the message is dropped and counted in "dropped_messages"; semantic and overlay messages already when
it is half full, keeping room for what scoring needs); for PQ only the panoptic label image and the
segment list of a frame are kept, at most MAX_WAITING frames waiting for their pair or their publish-log line
(the oldest is then scored with the header stamp as its key, as at the end of a run). --gt and --publish-log
are checked before the output bag is created; malformed publish-log lines are skipped and counted. On stop
(SIGINT / SIGTERM / end of playback) the worker drains the queue and ends before the bag is closed."""


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bag", required=True, help="rosbag2 directory, .mcap or .db3 file")
    p.add_argument("--topic", default=None,
                   help="image topic (sensor_msgs/Image or CompressedImage); may be left out when the bag has one")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--gt", type=Path, default=None,
                   help="ground truth in COCO panoptic layout (DIR/panoptic.json, DIR/panoptic/) -> PQ/SQ/RQ")
    add_config_options(p, flags=("model", "policy", "runtime", "precision", "device", "threads"),
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
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier run's files in --out (output_bag/, overlays/, report.json, latency.png)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")


def add_play_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bag", required=True, help="rosbag2 directory, .mcap or .db3 file")
    p.add_argument("--topic", action="append", default=None,
                   help="image topic to play (repeatable; default: every image topic of the bag)")
    p.add_argument("--remap", action="append", default=[], metavar="FROM:=TO",
                   help="publish a bag topic under another name, e.g. /camera/image_raw:=/cam/image (repeatable)")
    p.add_argument("--rate", type=float, default=1.0, help="playback speed factor (2 = twice as fast)")
    p.add_argument("--loop", action="store_true",
                   help="play again and again until interrupted; each loop shifts header stamps past the "
                        "previous loop so stamps stay unique")
    p.add_argument("--restamp", action="store_true", help="set each header stamp to the wall-clock publish time")
    p.add_argument("--qos", choices=("reliable", "best_effort"), default="reliable",
                   help="publisher reliability (default reliable: camera-sized frames arrive)")
    p.add_argument("--depth", type=int, default=10, help="publisher keep-last depth")
    p.add_argument("--wait-subscribers", type=int, default=0, metavar="N",
                   help="wait until every played topic has N subscribers before starting")
    p.add_argument("--wait-timeout", type=float, default=60.0, help="seconds to wait for subscribers")
    p.add_argument("--start-delay", type=float, default=0.0,
                   help="seconds to wait after discovery (lets subscriptions match)")
    p.add_argument("--max-frames", type=int, default=0, help="stop after this many messages (0 = all)")
    p.add_argument("--publish-log", type=Path, default=None, help="JSON lines of published frames (see above)")


def add_record_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="output folder (report.json, latency.png, bag, overlays)")
    p.add_argument("--node", default=DEFAULT_NAMESPACE,
                   help="the node's name/namespace: outputs are <node>/panoptic, /semantic, /instances, /overlay")
    p.add_argument("--skip-output", action="append", default=[], metavar="NAME",
                   help="do not subscribe to an output (repeatable; --no-overlay = --skip-output overlay)")
    p.add_argument("--publish-log", type=Path, default=None,
                   help="the player's --publish-log: exact publish times and bag indices, ends the recording "
                        "once playback is done")
    p.add_argument("--input-topic", default=None,
                   help="without --publish-log: the node's input topic, its arrival times stand in for publish times")
    p.add_argument("--gt", type=Path, default=None, help="ground truth folder (COCO panoptic layout) -> PQ/SQ/RQ")
    p.add_argument("--no-overlay", action="store_true", help="do not subscribe to <node>/overlay")
    p.add_argument("--save-overlays", type=int, default=10, metavar="N", help="overlay JPEGs to keep (0 = none)")
    p.add_argument("--bag-name", default="record", help="name of the output bag folder inside --out")
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0 = no limit)")
    p.add_argument("--idle-timeout", type=float, default=5.0,
                   help="stop when playback is done (or, without a publish log, after the first output) and "
                        "no output arrived for this many seconds")
    p.add_argument("--wait-timeout", type=float, default=60.0,
                   help="seconds to wait for the node's publishers to appear (0 = forever)")
    p.add_argument("--ready-file", type=Path, default=None,
                   help="touched once subscribed to a live node (for scripts that start the player next)")
    p.add_argument("--queue-size", type=int, default=32,
                   help="received messages waiting for the writer/scorer thread; more are dropped and counted")


def add_sample_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("runs/sample"), help="output folder (sample_bag/, gt/)")
    p.add_argument("--frames", type=int, default=30, help="number of frames")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fps", type=float, default=10.0, help="recorded camera rate (stamps and bag times)")
    p.add_argument("--topic", default="/camera/image_raw",
                   help="image topic (jpeg/png encodings publish CompressedImage on <topic>/compressed)")
    p.add_argument("--frame-id", default="camera")
    p.add_argument("--encoding", choices=ENCODINGS, default="rgb8", help="Image encoding or compressed format")
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    p.add_argument("--overlap", choices=("normal", "heavy"), default="normal", help="synthetic scene overlap mode")
    p.add_argument("--sequence", action="store_true",
                   help="one synthetic video (moving objects, panning camera) with ids consistent across frames "
                        "(segments_info[].track_id) instead of independent scenes")
    p.add_argument("--force", action="store_true", help="replace an existing sample in --out")
