"""The ROS side of `panoptic bench soak` (panoptic_ros/bench/soak.py): publish frames to a running panoptic_node at
a camera rate, count its answers and sample its memory. Kept here because only panoptic_ros/ros imports rclpy."""
from __future__ import annotations

import os
import subprocess
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from panoptic_ros.bench.soak import INPUT_TOPIC, NODE_NAME, rss_mb
from panoptic_ros.ros.bag.reader import header_stamp_ns
from panoptic_ros.ros.conversions import numpy_to_image_msg


def drive(args, proc: subprocess.Popen, images: list, tqdm) -> tuple[list, list, set, float]:
    """Publish the frames at the rate, count answers, sample the node's RSS."""
    samples: list[tuple[int, float, float]] = []
    answered: set[int] = set()
    sent: list[int] = []
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(os.environ["ROS_DOMAIN_ID"]))
    node = rclpy.create_node("panoptic_soak", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.RELIABLE)
        pub = node.create_publisher(Image, INPUT_TOPIC, qos)

        def on_answer(raw: bytes) -> None:
            try:
                answered.add(header_stamp_ns(raw))
            except ValueError:
                pass
        node.create_subscription(Image, f"/{NODE_NAME}/panoptic", on_answer, qos, raw=True)
        deadline = time.monotonic() + 30.0
        while pub.get_subscription_count() == 0 or node.count_publishers(f"/{NODE_NAME}/panoptic") == 0:
            if time.monotonic() > deadline:
                raise RuntimeError("panoptic_node's input/output topics did not match within 30 s")
            executor.spin_once(timeout_sec=0.1)
        msgs = [numpy_to_image_msg(img, "bgr8") for img in images]
        period = 1.0 / args.rate
        t0 = time.monotonic()
        next_sample = t0
        bar = tqdm(total=args.frames, desc="soak", unit="frame")
        for i in range(args.frames):
            if proc.poll() is not None:
                raise RuntimeError(f"panoptic_node exited (code {proc.returncode}) after {i} frames")
            msg = msgs[i % len(msgs)]
            stamp = 1_000_000_000_000_000_000 + i * int(period * 1e9)
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
            msg.header.frame_id = "soak"
            pub.publish(msg)
            sent.append(stamp)
            bar.update(1)
            now = time.monotonic()
            if now >= next_sample or i == args.warmup:
                rss = rss_mb(proc.pid)
                if rss is not None:
                    samples.append((i, round(now - t0, 2), round(rss, 2)))
                next_sample = now + args.sample_every
                bar.set_postfix(rss=f"{rss or 0:.0f}MB", answered=len(answered), refresh=False)
            target = t0 + (i + 1) * period
            while True:   # spin until the next frame is due (answers are counted meanwhile)
                left = target - time.monotonic()
                if left <= 0:
                    break
                executor.spin_once(timeout_sec=min(left, 0.05))
        bar.close()
        end = time.monotonic() + 3.0   # the last frames' answers
        while time.monotonic() < end and not answered.issuperset(sent[-1:]):
            executor.spin_once(timeout_sec=0.05)
        rss = rss_mb(proc.pid)
        if rss is not None:
            samples.append((args.frames, round(time.monotonic() - t0, 2), round(rss, 2)))
        wall = time.monotonic() - t0
    finally:
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    return samples, sent, answered, wall
