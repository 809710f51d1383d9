"""`panoptic bag record-eval` on the ROS graph: subscribe to a running panoptic_node's outputs (raw bytes) and the
camera topic, feed the Recorder (recorder.py), stop when playback is done, write report.json and latency.png on
every exit. What it measures is described with the command (cli/bag.py).
"""
from __future__ import annotations

import logging
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from ...utils.json_io import write_json
from ..conversions import RCLPY
from ..qos import choose_reliability, subscription_qos
from .reader import BagError
from .recorder import Recorder, RecordOptions
from .report import plot_latency
from .session import RosSession

log = logging.getLogger(__name__)


def _reliable_qos(depth: int = 10) -> QoSProfile:
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE)


def run(args: RecordOptions) -> dict:
    if args.publish_log is None and args.input_topic is None:
        log.warning("neither --publish-log nor --input-topic given: latency cannot be measured")
    recorder = Recorder(args)
    t0 = time.monotonic()
    status = "complete"
    try:
        with RosSession("panoptic_record_eval") as ros:
            node = ros.node
            _subs = [node.create_subscription(RCLPY.type(recorder.entries[k].msgtype), t, recorder.callback(k),
                                              _reliable_qos(), raw=True)
                     for k, t in recorder.names.items()]
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            _wait_for_node(ros, executor, recorder.names["panoptic"], args.wait_timeout)
            if args.ready_file is not None and not ros.stop.is_set():
                args.ready_file.parent.mkdir(parents=True, exist_ok=True)
                args.ready_file.write_text("ready\n")
            log.info("recording %s", ", ".join(recorder.names.values()))
            input_sub = None
            while not ros.stop.is_set() and rclpy.ok():
                executor.spin_once(timeout_sec=0.05)
                if args.input_topic and args.publish_log is None and input_sub is None:
                    input_sub = _subscribe_input(node, args.input_topic, recorder.on_input)
                if _should_stop(recorder, args, t0):
                    break
            executor.remove_node(node)
            if ros.stop.is_set():
                status = "stopped by signal"
    except BaseException as exc:
        status = f"failed: {type(exc).__name__}: {exc}"
        raise
    finally:
        recorder.finish()   # the worker ends before the bag is closed
        report = recorder.report()
        report["status"] = status
        report["duration_s"] = round(time.monotonic() - t0, 3)
        write_json(args.out / "report.json", report)   # on every exit, with what was received
        series = {"end-to-end": [f["latency_ms"] for f in report["per_frame"] if f["latency_ms"] is not None]}
        title = f"panoptic_node end-to-end latency ({report['frames_received']} of {report['frames_sent']} frames)"
        plot_latency(args.out / "latency.png", series, title)
    return report


def _subscribe_input(node, topic: str, callback):
    """Subscribe to the camera topic once its publisher shows up, with a reliability that matches it (the
    node's qos_reliability=auto rule); only header stamps are read (raw bytes, no deserialization)."""
    infos = node.get_publishers_info_by_topic(topic)
    if not infos:
        return None
    msg_type = CompressedImage if infos[0].topic_type.endswith("CompressedImage") else Image
    reliability = choose_reliability("auto", [i.qos_profile.reliability for i in infos])
    return node.create_subscription(msg_type, topic, callback, subscription_qos(reliability, 10), raw=True)


def _wait_for_node(ros, executor, topic: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout if timeout > 0 else float("inf")
    while not ros.stop.is_set():
        if ros.node.count_publishers(topic) > 0:
            return
        if time.monotonic() > deadline:
            raise BagError(f"no publisher on {topic} after {timeout:.0f} s: is panoptic_node running "
                           "(same ROS_DOMAIN_ID, --node matching its name/namespace)?")
        executor.spin_once(timeout_sec=0.1)


def _should_stop(rec: Recorder, args: RecordOptions, t0: float) -> bool:
    now = time.monotonic()
    if args.duration and now - t0 >= args.duration:
        return True
    if args.publish_log is not None:
        rec.pub_log.poll()
        if rec.pub_log.done is None:
            return False
        sent = rec.pub_log.stamps()
        if sent and rec.q.empty() and all(rec.arrived.get(s, 0) == rec.all_outputs for s in sent):
            return True  # every output of every frame arrived
        last = max(rec.pub_log.done_time, rec.last_arrival or 0.0)
        return now - last >= args.idle_timeout
    return rec.last_arrival is not None and now - rec.last_arrival >= args.idle_timeout
