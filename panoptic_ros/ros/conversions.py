"""sensor_msgs images <-> numpy, and the node's output messages (label, semantic, instances, overlay).

Decoding is done with numpy on the message buffer (no cv_bridge): one view, one colour conversion, and
every way a message can be malformed (unsupported encoding, zero size, step too small, data shorter than
height * step, undecodable JPEG/PNG) raises ImageConversionError with a message that says which.
Works on rclpy messages and on rosbags' message dataclasses alike (both have height, width, encoding,
is_bigendian, step, data / format, data).
"""
from __future__ import annotations

import array
import sys
from typing import Sequence

import cv2
import numpy as np

from panoptic_ros.data.categories import CategoryMap

# encoding -> (numpy dtype, channels, OpenCV conversion to RGB or None)
_ENCODINGS = {
    "rgb8": (np.uint8, 3, None),
    "bgr8": (np.uint8, 3, cv2.COLOR_BGR2RGB),
    "8UC3": (np.uint8, 3, cv2.COLOR_BGR2RGB),      # OpenCV's default channel order
    "rgba8": (np.uint8, 4, cv2.COLOR_RGBA2RGB),
    "bgra8": (np.uint8, 4, cv2.COLOR_BGRA2RGB),
    "mono8": (np.uint8, 1, cv2.COLOR_GRAY2RGB),
    "8UC1": (np.uint8, 1, cv2.COLOR_GRAY2RGB),
    "mono16": (np.uint16, 1, cv2.COLOR_GRAY2RGB),
    "16UC1": (np.uint16, 1, cv2.COLOR_GRAY2RGB),
}
SUPPORTED_ENCODINGS = tuple(_ENCODINGS)
UNKNOWN_SEMANTIC_8 = 255
UNKNOWN_SEMANTIC_16 = 65535
_HOST_BIG_ENDIAN = sys.byteorder == "big"


class ImageConversionError(ValueError):
    """An image message that cannot be turned into an RGB array; the message names the problem."""


# --------------------------------------------------------------------------------------------- input
def image_msg_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/Image -> HxWx3 uint8 RGB (a new contiguous array).

    16-bit images (mono16, 16UC1, e.g. depth) are scaled per frame so their [min, max] spans 0..255,
    which keeps 12-bit cameras and millimetre depth visible alike.
    """
    encoding = str(msg.encoding)
    if encoding not in _ENCODINGS:
        raise ImageConversionError(f"unsupported encoding {encoding!r} (supported: {', '.join(SUPPORTED_ENCODINGS)})")
    dtype, channels, conversion = _ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(f"zero-size image ({width}x{height})")
    itemsize = np.dtype(dtype).itemsize
    row_bytes = width * channels * itemsize
    if step < row_bytes:
        raise ImageConversionError(f"step {step} is smaller than width * bytes per pixel = {row_bytes} ({encoding})")
    data = np.frombuffer(msg.data, dtype=np.uint8) if len(msg.data) else np.zeros(0, np.uint8)
    needed = height * step
    if data.size < needed:
        raise ImageConversionError(f"data has {data.size} bytes, expected height * step = {height} * {step} = "
                                   f"{needed}")
    dt = np.dtype(dtype)
    if itemsize > 1:
        dt = dt.newbyteorder(">" if msg.is_bigendian else "<")
    pixels = np.ndarray((height, width, channels), dtype=dt, buffer=data, offset=0,
                        strides=(step, channels * itemsize, itemsize))
    if itemsize > 1:
        pixels = _scale_to_uint8(pixels.astype(np.uint16))
    if conversion is None:
        return np.ascontiguousarray(pixels)
    return cv2.cvtColor(np.ascontiguousarray(pixels), conversion)


def _scale_to_uint8(pixels: np.ndarray) -> np.ndarray:
    lo, hi = int(pixels.min()), int(pixels.max())
    if hi <= lo:
        return np.zeros(pixels.shape, np.uint8)
    scaled = (pixels.astype(np.float32) - lo) * (255.0 / (hi - lo))
    return np.clip(scaled + 0.5, 0, 255).astype(np.uint8)


def compressed_msg_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/CompressedImage (jpeg / png, as image_transport's compressed plugin sends) -> HxWx3 RGB."""
    fmt = str(getattr(msg, "format", "") or "")
    if "compresseddepth" in fmt.lower():
        raise ImageConversionError(f"compressedDepth images are not supported (format {fmt!r}); "
                                   "subscribe to the raw depth image instead")
    data = np.frombuffer(msg.data, dtype=np.uint8) if len(msg.data) else np.zeros(0, np.uint8)
    if data.size == 0:
        raise ImageConversionError(f"empty compressed image (format {fmt!r})")
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None or bgr.size == 0:
        raise ImageConversionError(f"cannot decode compressed image of {data.size} bytes (format {fmt!r}): "
                                   "corrupt or not JPEG/PNG")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# --------------------------------------------------------------------------------------------- output
def _fill_image(msg, header, pixels: np.ndarray, encoding: str):
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    msg.header = header
    msg.height, msg.width = int(height), int(width)
    msg.encoding = encoding
    msg.is_bigendian = int(_HOST_BIG_ENDIAN and pixels.dtype.itemsize > 1)
    msg.step = int(width * (pixels.itemsize * (pixels.shape[2] if pixels.ndim == 3 else 1)))
    data = array.array("B")
    data.frombytes(pixels.reshape(-1).view(np.uint8))  # one copy; the setter takes array('B') as is
    msg.data = data
    return msg


def numpy_to_image_msg(pixels: np.ndarray, encoding: str, header=None):
    """An HxW or HxWxC array -> sensor_msgs/Image with the given encoding and header (copied as is)."""
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    return _fill_image(Image(), header if header is not None else Header(), pixels, encoding)


def rgb_to_bgr8_msg(rgb: np.ndarray, header=None):
    """HxWx3 uint8 RGB -> sensor_msgs/Image bgr8 (what image viewers expect)."""
    return numpy_to_image_msg(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), "bgr8", header)


def panoptic_label_msg(panoptic: np.ndarray, header=None):
    """int32 HxW segment ids -> sensor_msgs/Image 32SC1 (0 = unknown; ids match PanopticInstance.id)."""
    return numpy_to_image_msg(np.asarray(panoptic, dtype=np.int32), "32SC1", header)


def semantic_from_panoptic(panoptic: np.ndarray, segments: Sequence[dict], num_classes: int) -> np.ndarray:
    """Class index per pixel (category channel of its segment): uint8 with unknown = 255 for up to 255 classes
    (indices 0..254), else uint16 with unknown = 65535."""
    panoptic = np.asarray(panoptic)
    if num_classes <= UNKNOWN_SEMANTIC_8:
        dtype, unknown = np.uint8, UNKNOWN_SEMANTIC_8
    elif num_classes <= UNKNOWN_SEMANTIC_16:
        dtype, unknown = np.uint16, UNKNOWN_SEMANTIC_16
    else:
        raise ValueError(f"{num_classes} classes do not fit a 16-bit semantic image")
    size = max([int(panoptic.max()) if panoptic.size else 0] + [int(s["id"]) for s in segments]) + 1
    lut = np.full(size, unknown, dtype=dtype)
    for seg in segments:
        lut[int(seg["id"])] = int(seg["category_id"])
    return lut[panoptic]


def semantic_msg(semantic: np.ndarray, header=None):
    """Class index image -> sensor_msgs/Image mono8 (uint8) or 16UC1 (uint16)."""
    encoding = "mono8" if semantic.dtype == np.uint8 else "16UC1"
    return numpy_to_image_msg(semantic, encoding, header)


def segment_centroids(panoptic: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel count and mean column / row of every segment id < size (one bincount each)."""
    flat = np.asarray(panoptic, dtype=np.int64).ravel()
    height, width = panoptic.shape
    area = np.bincount(flat, minlength=size).astype(np.float64)
    cols = np.bincount(flat, weights=np.tile(np.arange(width, dtype=np.float64), height), minlength=size)
    rows = np.bincount(flat, weights=np.repeat(np.arange(height, dtype=np.float64), width), minlength=size)
    safe = np.maximum(area, 1.0)
    return area, cols / safe, rows / safe


def instance_records(panoptic: np.ndarray, segments: Sequence[dict], categories: CategoryMap) -> list[dict]:
    """The PanopticInstance fields of every segment as plain dicts (what ~/instances carries):
    id, category_id, label, is_thing, score (1.0 for stuff), area, bbox (x, y, w, h), centroid (x, y)."""
    panoptic = np.asarray(panoptic)
    if not segments:
        return []
    size = max([int(s["id"]) for s in segments] + [int(panoptic.max()) if panoptic.size else 0]) + 1
    area, cx, cy = segment_centroids(panoptic, size)
    records = []
    for seg in segments:
        seg_id = int(seg["id"])
        x, y, w, h = (int(v) for v in seg["bbox"])
        records.append({"id": seg_id, "category_id": int(seg["category_id"]),
                        "label": categories.category(int(seg["category_id"])).name,
                        "is_thing": bool(seg["isthing"]), "score": float(seg["score"]) if seg["isthing"] else 1.0,
                        "area": int(area[seg_id]), "bbox": (max(x, 0), max(y, 0), max(w, 0), max(h, 0)),
                        "centroid": (float(cx[seg_id]), float(cy[seg_id]))})
    return records


def instances_msg(panoptic: np.ndarray, segments: Sequence[dict], categories: CategoryMap, header=None):
    """panoptic_ros/PanopticInstanceArray of a fused result (one PanopticInstance per segment)."""
    from geometry_msgs.msg import Point
    from sensor_msgs.msg import RegionOfInterest
    from std_msgs.msg import Header

    from panoptic_ros.msg import PanopticInstance, PanopticInstanceArray

    panoptic = np.asarray(panoptic)
    out = PanopticInstanceArray()
    out.header = header if header is not None else Header()
    out.height, out.width = int(panoptic.shape[0]), int(panoptic.shape[1])
    instances = []
    for rec in instance_records(panoptic, segments, categories):
        x, y, w, h = rec["bbox"]
        instances.append(PanopticInstance(
            id=rec["id"], category_id=rec["category_id"], label=rec["label"], is_thing=rec["is_thing"],
            score=rec["score"], area=rec["area"],
            bbox=RegionOfInterest(x_offset=x, y_offset=y, width=w, height=h),
            centroid=Point(x=rec["centroid"][0], y=rec["centroid"][1], z=0.0)))
    out.instances = instances
    return out
