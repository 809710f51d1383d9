"""What the node does per frame besides the model, timed stage by stage (used by `panoptic bench ros`).

Input: decoding the camera message (raw bgr8 Image, and a JPEG CompressedImage). Output: building the label,
semantic, instances and overlay messages and serializing them (what rclpy.publish does before handing the
bytes to the middleware). Same functions as the node (conversions.py, visualization.py).
"""
from __future__ import annotations

import array
import time
from typing import Callable

import cv2
import numpy as np

from . import conversions

IN_STAGES = ("decode_raw", "decode_jpeg")
OUT_STAGES = ("label", "semantic", "instances", "overlay", "serialize")


def camera_messages(rgb: np.ndarray):
    """The frame as a camera driver sends it: bgr8 Image and JPEG (quality 90) CompressedImage."""
    from sensor_msgs.msg import CompressedImage

    raw = conversions.rgb_to_bgr8_msg(rgb)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    jpeg = CompressedImage(format="jpeg")
    jpeg.data = array.array("B", buf.tobytes())
    return raw, jpeg


def _timed(fn: Callable, repeats: int) -> tuple[float, object]:
    """Median seconds of fn() over repeats, and its last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def time_frame(rgb: np.ndarray, result, categories, *, alpha: float = 0.5, repeats: int = 10) -> dict[str, float]:
    """Median seconds per stage for one frame and its PanopticResult."""
    from rclpy.serialization import serialize_message

    from panoptic_ros.visualization import render_overlay

    raw, jpeg = camera_messages(rgb)
    panoptic = result.panoptic.detach().cpu().numpy().astype(np.int32, copy=False)
    segments = result.segments
    t = {}
    t["decode_raw"], _ = _timed(lambda: conversions.image_msg_to_rgb(raw), repeats)
    t["decode_jpeg"], _ = _timed(lambda: conversions.compressed_msg_to_rgb(jpeg), repeats)
    t["label"], label = _timed(lambda: conversions.panoptic_label_msg(panoptic, raw.header), repeats)
    t["semantic"], semantic = _timed(lambda: conversions.semantic_msg(
        conversions.semantic_from_panoptic(panoptic, segments, len(categories)), raw.header), repeats)
    t["instances"], instances = _timed(lambda: conversions.instances_msg(panoptic, segments, categories, raw.header),
                                       repeats)
    t["overlay"], overlay = _timed(lambda: conversions.rgb_to_bgr8_msg(
        render_overlay(rgb, panoptic, segments, categories, alpha=alpha), raw.header), repeats)
    t["serialize"], _ = _timed(lambda: [serialize_message(m) for m in (label, semantic, instances, overlay)], repeats)
    return t
