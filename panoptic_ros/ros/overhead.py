"""What the node does per frame besides the model, timed stage by stage (used by `panoptic bench ros`).

Input: decoding the camera message (raw bgr8 Image, and a JPEG CompressedImage). Output: building every
registered output message (outputs.py: label, semantic, instances, overlay, ...) and serializing them (what
rclpy.publish does before handing the bytes to the middleware). Same code as the node.
"""
from __future__ import annotations

import array
import time
from collections.abc import Callable

import cv2
import numpy as np

from . import conversions, outputs

IN_STAGES = ("decode_raw", "decode_jpeg")


def out_stages() -> tuple[str, ...]:
    """One stage per registered output, then serialization of all of them."""
    return tuple(o.name for o in outputs.all_outputs()) + ("serialize",)


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

    raw, jpeg = camera_messages(rgb)
    frame = outputs.OutputFrame(result, raw.header, categories, rgb, alpha)
    _ = frame.panoptic  # the tensor -> numpy copy is shared by all outputs, as in the node: not timed per output
    t = {}
    t["decode_raw"], _ = _timed(lambda: conversions.image_msg_to_rgb(raw), repeats)
    t["decode_jpeg"], _ = _timed(lambda: conversions.compressed_msg_to_rgb(jpeg), repeats)
    messages = []
    for out in outputs.all_outputs():
        t[out.name], msg = _timed(lambda out=out: out.build(frame, conversions.RCLPY), repeats)
        if msg is not None:
            messages.append(msg)
    t["serialize"], _ = _timed(lambda: [serialize_message(m) for m in messages], repeats)
    return t
