"""`panoptic bag play` on the ROS graph: a bag's image messages published as recorded (serialized bytes, no
decode), spaced by their bag times / rate, with a publish log for record-eval. What it does is described with the
command (cli/bag_options.py).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from rclpy.duration import Duration
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from .reader import COMPRESSED, IMAGE, BagError, ImageBagReader, header_stamp_ns, set_header_stamp
from .session import RosSession

log = logging.getLogger(__name__)


@dataclass
class PlayOptions:
    """One `panoptic bag play` run (the options are described in cli/bag_options.py)."""
    bag: str
    topic: list | None = None
    remap: list = field(default_factory=list)
    rate: float = 1.0
    loop: bool = False
    restamp: bool = False
    qos: str = "reliable"
    depth: int = 10
    wait_subscribers: int = 0
    wait_timeout: float = 60.0
    start_delay: float = 0.0
    max_frames: int = 0
    publish_log: Path | None = None


def parse_remaps(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if ":=" not in item:
            raise ValueError(f"--remap {item!r} must look like /from:=/to")
        src, dst = item.split(":=", 1)
        out[src.strip()] = dst.strip()
    return out


def run(args: PlayOptions) -> dict:
    if args.rate <= 0:
        raise ValueError(f"--rate must be positive, got {args.rate}")
    remaps = parse_remaps(args.remap)
    reader = ImageBagReader(args.bag, args.topic).open()
    try:
        return play(reader, args, remaps)
    finally:
        reader.close()


def _qos(reliability: str, depth: int) -> QoSProfile:
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE if reliability == "reliable"
                      else ReliabilityPolicy.BEST_EFFORT)


def play(reader: ImageBagReader, args: PlayOptions, remaps: dict[str, str]) -> dict:
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
    for pub in pubs.values():
        wait = getattr(pub, "wait_for_all_acked", None)
        if wait is not None:
            try:
                wait(Duration(seconds=timeout))
            except Exception:  # best effort: not supported by every rmw / QoS
                pass
