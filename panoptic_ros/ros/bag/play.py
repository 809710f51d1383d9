"""`panoptic bag play`: publish a bag's image topics on the live ROS graph with their recorded timing.

Messages go out exactly as recorded (serialized bytes, no decode/re-encode), spaced by their bag timestamps
divided by --rate, so a running panoptic_node sees what the camera produced. QoS: RELIABLE, keep last 10
by default: a reliable publisher reaches reliable and best-effort subscribers, and reliable delivery gets
every camera-sized frame across processes. The process uses the package's Fast DDS profile (a large
shared-memory segment, see panoptic_ros/ros/transport.py) so even --qos best_effort, which reproduces a
best-effort camera driver, delivers 640x480 and 1280x720 frames.

--publish-log FILE writes one JSON line per published frame ({"index", "topic", "stamp_ns" (as published),
"bag_stamp_ns" (as recorded), "publish_ns" (time.time_ns() just before publish)}) and a last line
{"done": true, ...}: `panoptic bag record-eval --publish-log FILE` uses it for end-to-end latency and to map
received outputs back to bag indices (ground truth).
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from .reader import COMPRESSED, IMAGE, BagError, ImageBagReader, header_stamp_ns, set_header_stamp

log = logging.getLogger(__name__)


def add_arguments(p) -> None:
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


def parse_remaps(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if ":=" not in item:
            raise ValueError(f"--remap {item!r} must look like /from:=/to")
        src, dst = item.split(":=", 1)
        out[src.strip()] = dst.strip()
    return out


def run(args) -> dict:
    if args.rate <= 0:
        raise ValueError(f"--rate must be positive, got {args.rate}")
    remaps = parse_remaps(args.remap)
    reader = ImageBagReader(args.bag, args.topic).open()
    try:
        return play(reader, args, remaps)
    finally:
        reader.close()


def _qos(reliability: str, depth: int):
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE if reliability == "reliable"
                      else ReliabilityPolicy.BEST_EFFORT)


def play(reader: ImageBagReader, args, remaps: dict[str, str]) -> dict:
    from sensor_msgs.msg import CompressedImage, Image

    from .session import RosSession

    types = {IMAGE: Image, COMPRESSED: CompressedImage}
    logfile = None
    if args.publish_log is not None:
        args.publish_log.parent.mkdir(parents=True, exist_ok=True)
        logfile = open(args.publish_log, "w")
    sent = 0
    loops = 0
    summary = {"bag": str(reader.path), "topics": {}, "sent": 0, "loops": 0, "interrupted": False}
    with RosSession("panoptic_bag_player") as ros:
        node = ros.node
        pubs = {}
        for topic in reader.requested:
            name = remaps.get(topic, topic)
            pubs[topic] = node.create_publisher(types[reader.topics[topic]], name, _qos(args.qos, args.depth))
            summary["topics"][topic] = name
        if args.wait_subscribers > 0:
            _wait_for_subscribers(ros, pubs, args.wait_subscribers, args.wait_timeout)
        if args.start_delay > 0:
            ros.sleep(args.start_delay)
        log.info("playing %s (%s) at rate %.3g", reader.path, ", ".join(summary["topics"].values()), args.rate)
        stamp_shift = 0
        t_start = time.monotonic()
        first_log = None
        loop_offset = 0.0
        try:
            while not ros.stop.is_set():
                lo_stamp, hi_stamp, last_log = None, None, None
                for rec in reader.records():
                    if ros.stop.is_set() or (args.max_frames and sent >= args.max_frames):
                        break
                    if first_log is None:
                        first_log = rec.log_time_ns
                    due = t_start + loop_offset + (rec.log_time_ns - first_log) / 1e9 / args.rate
                    if not ros.sleep(due - time.monotonic()):
                        break
                    data = rec.data
                    try:
                        bag_stamp = header_stamp_ns(data)
                    except ValueError:
                        bag_stamp = -1  # a bad record goes out as recorded; the node has to cope
                    stamp = bag_stamp
                    if bag_stamp >= 0:
                        lo_stamp = bag_stamp if lo_stamp is None else min(lo_stamp, bag_stamp)
                        hi_stamp = bag_stamp if hi_stamp is None else max(hi_stamp, bag_stamp)
                        if args.restamp:
                            stamp = time.time_ns()
                        elif stamp_shift:
                            stamp = bag_stamp + stamp_shift
                        if stamp != bag_stamp:
                            data = set_header_stamp(data, stamp)
                    publish_ns = time.time_ns()
                    pubs[rec.topic].publish(data)
                    sent += 1
                    last_log = rec.log_time_ns
                    if logfile is not None:
                        logfile.write(json.dumps({"index": rec.index, "topic": summary["topics"][rec.topic],
                                                  "loop": loops, "stamp_ns": stamp, "bag_stamp_ns": bag_stamp,
                                                  "publish_ns": publish_ns}) + "\n")
                        logfile.flush()
                loops += 1
                if not args.loop or ros.stop.is_set() or (args.max_frames and sent >= args.max_frames) \
                        or last_log is None:
                    break
                # next loop: continue the clock one mean frame gap after this loop's last message and
                # shift header stamps past this loop's range so every published stamp is unique
                gap = (last_log - first_log) / max(1, reader.message_count - 1) / 1e9 / args.rate
                loop_offset += (last_log - first_log) / 1e9 / args.rate + gap
                if lo_stamp is not None:
                    stamp_shift += hi_stamp - lo_stamp + max(1, int(gap * 1e9 * args.rate))
            _wait_acked(pubs)
        finally:
            summary.update(sent=sent, loops=loops, interrupted=ros.stop.is_set(),
                           duration_s=round(time.monotonic() - t_start, 3))
            if logfile is not None:
                logfile.write(json.dumps({"done": True, **summary}) + "\n")
                logfile.close()
    log.info("published %d messages in %.1f s", sent, summary["duration_s"])
    return summary


def _wait_for_subscribers(ros, pubs: dict, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        missing = {t: p.get_subscription_count() for t, p in pubs.items() if p.get_subscription_count() < count}
        if not missing:
            return
        if time.monotonic() > deadline:
            found = ", ".join(f"{p.topic_name}: {n}" for t, n in missing.items() for p in [pubs[t]])
            raise BagError(f"timed out after {timeout:.0f} s waiting for {count} subscriber(s) ({found}); "
                           "is the node running on the same ROS_DOMAIN_ID and topic?")
        if not ros.sleep(0.1):
            return


def _wait_acked(pubs: dict, timeout: float = 2.0) -> None:
    """Give reliable publishers a moment to deliver the last frames before the process exits."""
    from rclpy.duration import Duration

    for pub in pubs.values():
        wait = getattr(pub, "wait_for_all_acked", None)
        if wait is not None:
            try:
                wait(Duration(seconds=timeout))
            except Exception:  # best effort: not supported by every rmw / QoS
                pass
