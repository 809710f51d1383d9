"""The ROS graph of `panoptic bench cameras` (multi_camera.py): publish camera frames at a rate on several topics
and collect the nodes' answers with their latency."""
from __future__ import annotations

import threading
import time

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from panoptic_ros.msg import PanopticInstanceArray

from ..bag.reader import header_stamp_ns
from ..conversions import numpy_to_image_msg
from ..diagnostics import diagnostic_values

MATCH_TIMEOUT = 60.0          # s for the nodes' input and output topics to match


class CameraGraph:
    """An rclpy context in the benchmark's ROS domain (one for all runs)."""

    def __init__(self, domain: int):
        self.context = rclpy.Context()
        rclpy.init(args=[], context=self.context, domain_id=domain)  # not our argv

    def close(self) -> None:
        rclpy.try_shutdown(context=self.context)

    def drive(self, inputs: dict[str, str], outputs: dict[str, str], images: list, *, rate: float, warmup: float,
              seconds: float) -> tuple[dict, dict]:
        """Publish images (bgr8, reliable, header stamp = publish wall time) at `rate` Hz on every input topic
        (camera -> topic) for warmup + seconds; collect the ~/instances answers (camera -> topic) that arrive in
        the measured window -> ({camera: [(arrival wall time, latency s)]}, {node: mean batch size from
        /diagnostics})."""
        node = rclpy.create_node("panoptic_bench_cameras", context=self.context)
        executor = SingleThreadedExecutor(context=self.context)
        executor.add_node(node)
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.RELIABLE)
        pubs = {cam: node.create_publisher(Image, topic, qos) for cam, topic in inputs.items()}
        window = [float("inf"), float("-inf")]
        answers: dict[str, list] = {cam: [] for cam in pubs}
        batch: dict[str, str] = {}

        def on_answer(raw: bytes, cam: str) -> None:
            now = time.time()
            if window[0] <= now <= window[1]:
                answers[cam].append((now, now - header_stamp_ns(raw) * 1e-9))

        for cam, topic in outputs.items():
            node.create_subscription(PanopticInstanceArray, topic, lambda raw, cam=cam: on_answer(raw, cam), qos,
                                     raw=True)

        def on_diagnostics(msg) -> None:
            for status in msg.status:
                name = status.name.split(":")[0]
                batch[name] = diagnostic_values(status).get("batch size (mean)", "n/a")
        node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
        stop = threading.Event()

        def spin() -> None:
            while not stop.is_set():
                executor.spin_once(timeout_sec=0.05)
        spinner = threading.Thread(target=spin, daemon=True)
        try:
            deadline = time.monotonic() + MATCH_TIMEOUT
            while any(p.get_subscription_count() == 0 for p in pubs.values()) or any(
                    node.count_publishers(t) == 0 for t in outputs.values()):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the nodes' input / output topics did not match within {MATCH_TIMEOUT:.0f} s")
                executor.spin_once(timeout_sec=0.1)
            spinner.start()
            msgs = {cam: numpy_to_image_msg(images[i % len(images)], "bgr8") for i, cam in enumerate(pubs)}
            period = 1.0 / rate
            start = time.time()
            window[0], window[1] = start + warmup, start + warmup + seconds
            k = 0
            while time.time() < window[1]:
                for cam, pub in pubs.items():
                    msg = msgs[cam]
                    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(time.time_ns(), 1_000_000_000)
                    msg.header.frame_id = cam
                    pub.publish(msg)
                k += 1
                time.sleep(max(0.0, start + k * period - time.time()))
            time.sleep(1.0)                                   # answers of the last frames in the window
        finally:
            stop.set()
            if spinner.is_alive():
                spinner.join(2.0)
            executor.shutdown(timeout_sec=1.0)
            node.destroy_node()
        return {cam: [a for a in lst if a[0] <= window[1]] for cam, lst in answers.items()}, batch
