"""sensor_msgs images <-> numpy, and the messages the node's outputs are made of (label, semantic, instances).

Decoding is done with numpy on the message buffer (no cv_bridge): one view, one colour conversion, and
every way a message can be malformed (unsupported encoding, zero size, step too small, data shorter than
height * step, undecodable JPEG/PNG) raises ImageConversionError with a message that says which.
Works on rclpy messages and on rosbags' message dataclasses alike (both have height, width, encoding,
is_bigendian, step, data / format, data). Building works for both too: the builders take a message kit
(RCLPY, the default, or RosbagsMessages(store)), so the node and the bag writer share one implementation.
Which output uses which builder is decided in outputs.py.
"""
from __future__ import annotations

import array
import importlib
import sys
from collections.abc import Sequence

import cv2
import numpy as np

from panoptic_ros.data.categories import CategoryMap
from panoptic_ros.data.image_limits import UnreadableImageHeader, check_encoded, check_pixels

IMAGE = "sensor_msgs/msg/Image"
INSTANCE = "panoptic_ros/msg/PanopticInstance"
INSTANCE_ARRAY = "panoptic_ros/msg/PanopticInstanceArray"

# encoding -> (numpy dtype, channels): every encoding image_msg_to_array reads (inputs and the node's outputs)
_LAYOUTS = {
    "rgb8": (np.uint8, 3), "bgr8": (np.uint8, 3), "8UC3": (np.uint8, 3),
    "rgba8": (np.uint8, 4), "bgra8": (np.uint8, 4),
    "mono8": (np.uint8, 1), "8UC1": (np.uint8, 1),
    "mono16": (np.uint16, 1), "16UC1": (np.uint16, 1),
    "32SC1": (np.int32, 1),
}
# input encoding -> OpenCV conversion to RGB (None: already RGB)
_TO_RGB = {
    "rgb8": None,
    "bgr8": cv2.COLOR_BGR2RGB,
    "8UC3": cv2.COLOR_BGR2RGB,      # OpenCV's default channel order
    "rgba8": cv2.COLOR_RGBA2RGB,
    "bgra8": cv2.COLOR_BGRA2RGB,
    "mono8": cv2.COLOR_GRAY2RGB,
    "8UC1": cv2.COLOR_GRAY2RGB,
    "mono16": cv2.COLOR_GRAY2RGB,
    "16UC1": cv2.COLOR_GRAY2RGB,
}
SUPPORTED_ENCODINGS = tuple(_TO_RGB)
_HOST_BIG_ENDIAN = sys.byteorder == "big"


class ImageConversionError(ValueError):
    """An image message that cannot be turned into an RGB array; the message names the problem."""


# --------------------------------------------------------------------------------------------- input
def image_msg_to_array(msg, encodings: Sequence[str] | None = None) -> np.ndarray:
    """sensor_msgs/Image -> its pixels as HxWxC (C = channels of the encoding) in the encoding's dtype,
    native byte order; a view of the message buffer when possible (read-only). ``encodings`` limits what is
    accepted (default: every encoding this module knows)."""
    encoding = str(msg.encoding)
    allowed = tuple(encodings) if encodings is not None else tuple(_LAYOUTS)
    if encoding not in allowed or encoding not in _LAYOUTS:
        raise ImageConversionError(f"unsupported encoding {encoding!r} (supported: {', '.join(allowed)})")
    dtype, channels = _LAYOUTS[encoding]
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
    if itemsize > 1 and not dt.isnative:
        pixels = pixels.astype(dt.newbyteorder("="))
    return pixels


def image_msg_to_rgb(msg, max_pixels: int = 0) -> np.ndarray:
    """sensor_msgs/Image -> HxWx3 uint8 RGB (a new contiguous array).

    16-bit images (mono16, 16UC1, e.g. depth) are scaled per frame so their [min, max] spans 0..255,
    which keeps 12-bit cameras and millimetre depth visible alike. max_pixels (0 = no limit): height x width
    from the message fields is checked first (image_limits.ImageTooLarge), before any pixel is touched.
    """
    check_pixels(msg.height, msg.width, max_pixels, "raw image")
    pixels = image_msg_to_array(msg, SUPPORTED_ENCODINGS)
    conversion = _TO_RGB[str(msg.encoding)]
    if pixels.dtype.itemsize > 1:
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


def compressed_msg_to_rgb(msg, max_pixels: int = 0) -> np.ndarray:
    """sensor_msgs/CompressedImage (jpeg / png, as image_transport's compressed plugin sends) -> HxWx3 RGB.

    max_pixels (0 = no limit): the size the PNG / JPEG header declares is checked before cv2.imdecode
    (ImageTooLarge), so a small file declaring a huge image is never decoded; data without a readable
    PNG / JPEG header is rejected then too."""
    fmt = str(getattr(msg, "format", "") or "")
    if "compresseddepth" in fmt.lower():
        raise ImageConversionError(f"compressedDepth images are not supported (format {fmt!r}); "
                                   "subscribe to the raw depth image instead")
    data = np.frombuffer(msg.data, dtype=np.uint8) if len(msg.data) else np.zeros(0, np.uint8)
    if data.size == 0:
        raise ImageConversionError(f"empty compressed image (format {fmt!r})")
    if max_pixels:
        try:
            check_encoded(data, max_pixels, f"compressed image (format {fmt!r})")
        except UnreadableImageHeader as exc:
            raise ImageConversionError(f"cannot decode compressed image of {data.size} bytes (format {fmt!r}): "
                                       f"{exc}") from None
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None or bgr.size == 0:
        raise ImageConversionError(f"cannot decode compressed image of {data.size} bytes (format {fmt!r}): "
                                   "corrupt or not JPEG/PNG")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# --------------------------------------------------------------------------------------------- messages
class RclpyMessages:
    """Message classes of rclpy (the node, the recorder's subscriptions): ``type(name)`` and byte fields."""
    name = "rclpy"

    @staticmethod
    def type(msgtype: str):
        """'sensor_msgs/msg/Image' -> sensor_msgs.msg.Image (imported on first use)."""
        package, _, cls = msgtype.partition("/msg/")
        return getattr(importlib.import_module(f"{package}.msg"), cls)

    @staticmethod
    def uint8_data(pixels: np.ndarray):
        data = array.array("B")
        data.frombytes(np.ascontiguousarray(pixels).reshape(-1).view(np.uint8))  # one copy; rclpy takes it as is
        return data

    def header(self):
        return self.type("std_msgs/msg/Header")()


class RosbagsMessages:
    """Message dataclasses of a rosbags type store (bag writing): same field names, numpy byte fields."""
    name = "rosbags"

    def __init__(self, store):
        self.types = getattr(store, "types", store)     # a rosbags Typestore or its types mapping

    def type(self, msgtype: str):
        return self.types[msgtype]

    @staticmethod
    def uint8_data(pixels: np.ndarray):
        return np.ascontiguousarray(pixels).reshape(-1).view(np.uint8)

    def header(self):
        stamp = self.type("builtin_interfaces/msg/Time")(sec=0, nanosec=0)
        return self.type("std_msgs/msg/Header")(stamp=stamp, frame_id="")


RCLPY = RclpyMessages()


# --------------------------------------------------------------------------------------------- output
def numpy_to_image_msg(pixels: np.ndarray, encoding: str, header=None, kit=RCLPY):
    """An HxW or HxWxC array -> sensor_msgs/Image with the given encoding and header (copied as is); rclpy
    message by default, a rosbags one with kit=RosbagsMessages(store)."""
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    return kit.type(IMAGE)(
        header=header if header is not None else kit.header(), height=int(height), width=int(width),
        encoding=encoding, is_bigendian=int(_HOST_BIG_ENDIAN and pixels.dtype.itemsize > 1),
        step=int(width * pixels.itemsize * (pixels.shape[2] if pixels.ndim == 3 else 1)),
        data=kit.uint8_data(pixels))


def rgb_to_bgr8_msg(rgb: np.ndarray, header=None, kit=RCLPY):
    """HxWx3 uint8 RGB -> sensor_msgs/Image bgr8 (what image viewers expect)."""
    return numpy_to_image_msg(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), "bgr8", header, kit)


def panoptic_label_msg(panoptic: np.ndarray, header=None, kit=RCLPY):
    """int32 HxW segment ids -> sensor_msgs/Image 32SC1 (0 = unknown; ids match PanopticInstance.id)."""
    return numpy_to_image_msg(np.asarray(panoptic, dtype=np.int32), "32SC1", header, kit)


def semantic_msg(semantic: np.ndarray, header=None, kit=RCLPY):
    """Class index image -> sensor_msgs/Image mono8 (uint8) or 16UC1 (uint16)."""
    encoding = "mono8" if semantic.dtype == np.uint8 else "16UC1"
    return numpy_to_image_msg(semantic, encoding, header, kit)


def segment_centroids(panoptic: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel count and mean column / row of every segment id < size (one bincount each)."""
    flat = np.asarray(panoptic, dtype=np.int64).ravel()
    height, width = panoptic.shape
    area = np.bincount(flat, minlength=size).astype(np.float64)
    cols = np.bincount(flat, weights=np.tile(np.arange(width, dtype=np.float64), height), minlength=size)
    rows = np.bincount(flat, weights=np.repeat(np.arange(height, dtype=np.float64), width), minlength=size)
    safe = np.maximum(area, 1.0)
    return area, cols / safe, rows / safe


# PanopticInstance.id_source of the tracker's segment["id_source"] (panoptic_ros.tracking.ID_SOURCES)
ID_SOURCE_CODES = {"new": 1, "continued": 2, "reidentified": 3}


def instance_records(panoptic: np.ndarray, segments: Sequence[dict], categories: CategoryMap) -> list[dict]:
    """The PanopticInstance fields of every segment as plain dicts (what ~/instances carries):
    id, class_index (the model's channel), category_id (the dataset's id), label, is_thing, score (1.0 for stuff),
    area, bbox (x, y, w, h), centroid (x, y),
    track_age and first_seen (seconds; both 0 without tracking, see panoptic_ros.tracking), id_source (ID_SOURCE_*:
    0 none, 1 new, 2 continued, 3 re-identified)."""
    panoptic = np.asarray(panoptic)
    if not segments:
        return []
    size = max([int(s["id"]) for s in segments] + [int(panoptic.max()) if panoptic.size else 0]) + 1
    area, cx, cy = segment_centroids(panoptic, size)
    records = []
    for seg in segments:
        seg_id = int(seg["id"])
        x, y, w, h = (int(v) for v in seg["bbox"])
        category = categories.category(int(seg["category_id"]))     # segments carry the channel index
        records.append({"id": seg_id, "class_index": int(seg["category_id"]), "category_id": int(category.id),
                        "label": category.name,
                        "is_thing": bool(seg["isthing"]), "score": float(seg["score"]) if seg["isthing"] else 1.0,
                        "area": int(area[seg_id]), "bbox": (max(x, 0), max(y, 0), max(w, 0), max(h, 0)),
                        "centroid": (float(cx[seg_id]), float(cy[seg_id])),
                        "track_age": int(seg.get("track_age", 0)), "first_seen": float(seg.get("first_seen", 0.0)),
                        "id_source": ID_SOURCE_CODES.get(seg.get("id_source"), 0)})
    return records


def instance_array_msg(records: Sequence[dict], height: int, width: int, header=None, kit=RCLPY):
    """panoptic_ros/PanopticInstanceArray of instance records (the dicts of instance_records)."""
    T = kit.type
    Instance, Roi, Point = T(INSTANCE), T("sensor_msgs/msg/RegionOfInterest"), T("geometry_msgs/msg/Point")
    Time = T("builtin_interfaces/msg/Time")
    instances = []
    for rec in records:
        x, y, w, h = (int(v) for v in rec["bbox"])
        cx, cy = rec["centroid"]
        first_ns = round(float(rec.get("first_seen", 0.0)) * 1e9)      # tracking fields: 0 when tracking is off
        instances.append(Instance(
            id=int(rec["id"]), class_index=int(rec["class_index"]), category_id=int(rec["category_id"]),
            label=str(rec["label"]),
            is_thing=bool(rec["is_thing"]), score=float(rec["score"]), area=int(rec["area"]),
            bbox=Roi(x_offset=x, y_offset=y, height=h, width=w, do_rectify=False),
            centroid=Point(x=float(cx), y=float(cy), z=0.0), track_age=int(rec.get("track_age", 0)),
            first_seen=Time(sec=first_ns // 1_000_000_000, nanosec=first_ns % 1_000_000_000),
            id_source=int(rec.get("id_source", 0))))
    return T(INSTANCE_ARRAY)(header=header if header is not None else kit.header(), height=int(height),
                             width=int(width), instances=instances)


def instances_msg(panoptic: np.ndarray, segments: Sequence[dict], categories: CategoryMap, header=None, kit=RCLPY):
    """panoptic_ros/PanopticInstanceArray of a fused result (one PanopticInstance per segment)."""
    panoptic = np.asarray(panoptic)
    return instance_array_msg(instance_records(panoptic, segments, categories), panoptic.shape[0],
                              panoptic.shape[1], header, kit)


def instance_array_records(msg) -> list[dict]:
    """A PanopticInstanceArray (rclpy or rosbags) -> the instance records it carries (inverse of
    instance_array_msg)."""
    return [{"id": int(i.id), "class_index": int(i.class_index), "category_id": int(i.category_id),
             "label": str(i.label), "is_thing": bool(i.is_thing),
             "score": float(i.score), "area": int(i.area),
             "bbox": (int(i.bbox.x_offset), int(i.bbox.y_offset), int(i.bbox.width), int(i.bbox.height)),
             "centroid": (float(i.centroid.x), float(i.centroid.y)), "track_age": int(i.track_age),
             "first_seen": int(i.first_seen.sec) + int(i.first_seen.nanosec) * 1e-9, "id_source": int(i.id_source)}
            for i in msg.instances]
