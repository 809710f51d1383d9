"""Depth inputs of the node: sensor_msgs/Image depth -> metres, CameraInfo -> Intrinsics, and the
~/instances_3d message (panoptic_ros/PanopticInstance3DArray) of a panoptic_ros.geometry result.

Accepted depth encodings: 16UC1 / mono16 (millimetres, 0 = no return; the RealSense / Kinect / OAK
convention) and 32FC1 (metres, 0 / NaN = no return; the REP 118 convention). The depth image must be
registered to the colour image (same optical frame; e.g. RealSense aligned_depth_to_color) and either the
same size or a scaled version of it (same aspect ratio); camera_info may describe the depth image or the
colour image, its K is scaled to the depth size. Anything else raises DepthConversionError with a
one-line reason, for the node to warn about and publish 2D only. Works on rclpy and rosbags messages.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from panoptic_ros.data.categories import CategoryMap
from panoptic_ros.geometry import Intrinsics, Segments3D
from panoptic_ros.geometry.intrinsics import check_same_aspect
from panoptic_ros.ros.conversions import RCLPY

INSTANCE_3D = "panoptic_ros/msg/PanopticInstance3D"
INSTANCE_3D_ARRAY = "panoptic_ros/msg/PanopticInstance3DArray"
# encoding -> (dtype, metres per unit)
DEPTH_ENCODINGS = {"16UC1": (np.uint16, 0.001), "mono16": (np.uint16, 0.001), "32FC1": (np.float32, 1.0)}


class DepthConversionError(ValueError):
    """A depth image or camera_info that cannot be used for 3D; the message says why."""


def depth_msg_to_metres(msg) -> np.ndarray:
    """sensor_msgs/Image (16UC1 / mono16 millimetres or 32FC1 metres) -> float32 HxW metres (new array;
    0 and NaN stay invalid: 0 mm -> 0.0 m)."""
    encoding = str(msg.encoding)
    if encoding not in DEPTH_ENCODINGS:
        raise DepthConversionError(f"depth image encoding {encoding!r} is not supported (use "
                                   f"{', '.join(DEPTH_ENCODINGS)}: millimetres as 16-bit, metres as float)")
    dtype, scale = DEPTH_ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise DepthConversionError(f"depth image has zero size ({width}x{height})")
    itemsize = np.dtype(dtype).itemsize
    if step < width * itemsize:
        raise DepthConversionError(f"depth image step {step} < width * {itemsize} bytes = {width * itemsize}")
    data = np.frombuffer(msg.data, dtype=np.uint8) if len(msg.data) else np.zeros(0, np.uint8)
    if data.size < height * step:
        raise DepthConversionError(f"depth image data has {data.size} bytes, expected height * step = "
                                   f"{height * step}")
    dt = np.dtype(dtype).newbyteorder(">" if msg.is_bigendian else "<")
    pixels = np.ndarray((height, width), dtype=dt, buffer=data, strides=(step, itemsize))
    return pixels.astype(np.float32) * np.float32(scale) if scale != 1.0 else pixels.astype(np.float32)


def camera_info_to_intrinsics(msg) -> Intrinsics:
    """sensor_msgs/CameraInfo -> Intrinsics (K and the image size it belongs to). An uncalibrated
    camera_info (all-zero K or no size) raises DepthConversionError."""
    width, height = int(msg.width), int(msg.height)
    if width <= 0 or height <= 0:
        raise DepthConversionError(f"camera_info has no image size ({width}x{height})")
    try:
        return Intrinsics.from_matrix(list(msg.k), width, height)
    except ValueError as exc:
        raise DepthConversionError(f"camera_info: {exc}") from None


def depth_intrinsics(depth_shape: tuple[int, int], info: Intrinsics, image_size: tuple[int, int]) -> Intrinsics:
    """The camera_info's intrinsics at the depth image's size, after checking that depth (HxW shape),
    camera_info and the colour image (width, height) are scaled versions of one another."""
    depth_size = (int(depth_shape[1]), int(depth_shape[0]))
    try:
        check_same_aspect(image_size, depth_size, "the colour image", "the depth image")
        check_same_aspect(depth_size, (info.width, info.height), "the depth image", "camera_info")
    except ValueError as exc:
        raise DepthConversionError(str(exc)) from None
    return info.scaled_to(*depth_size)


def prepare_depth(depth_msg, info_msg, image_size: tuple[int, int]) -> tuple[np.ndarray, Intrinsics]:
    """One matched depth + camera_info pair -> (float32 metres HxW, Intrinsics of that depth image), ready for
    panoptic_ros.geometry.segments_3d with the colour image's label map. image_size = colour (width, height)."""
    depth = depth_msg_to_metres(depth_msg)
    return depth, depth_intrinsics(depth.shape, camera_info_to_intrinsics(info_msg), image_size)


def _point(kit, xyz, name="geometry_msgs/msg/Point"):
    x, y, z = (0.0 if not math.isfinite(v) else float(v) for v in xyz)
    return kit.type(name)(x=x, y=y, z=z)


def instances_3d_msg(result: Segments3D, segments: Sequence[dict], categories: CategoryMap, header=None,
                     kit=RCLPY):
    """panoptic_ros/PanopticInstance3DArray: one PanopticInstance3D per segment of ``result`` (in its order),
    class from the matching segment dict (id, category_id: its channel index -> class_index, and the
    dataset's category_id). Statistics of segments without valid depth
    are sent as 0 with valid_points 0. header: the colour image's stamp with the depth optical frame_id."""
    by_id = {int(s["id"]): s for s in segments}
    instances = []
    for i, seg_id in enumerate(result.ids):
        seg = by_id.get(int(seg_id))
        if seg is None:
            raise ValueError(f"segment {int(seg_id)} of the 3D result is not among the frame's segments")
        index = int(seg["category_id"])                 # segments carry the channel index
        category = categories.category(index)
        instances.append(kit.type(INSTANCE_3D)(
            id=int(seg_id), class_index=index, category_id=int(category.id), label=category.name,
            centroid=_point(kit, result.centroid[i]), box_center=_point(kit, result.box_center[i]),
            extent=_point(kit, result.extent[i], "geometry_msgs/msg/Vector3"),
            valid_points=int(result.valid_points[i]), area=int(result.area[i])))
    return kit.type(INSTANCE_3D_ARRAY)(header=header if header is not None else kit.header(), instances=instances)


# --------------------------------------------------------------------------------------------- rviz outputs
_CLOUD_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("id", "<u4")])
_FLOAT32, _UINT32 = 7, 6       # sensor_msgs/PointField datatypes


def point_cloud_msg(points: np.ndarray, ids: np.ndarray, header=None, kit=RCLPY):
    """sensor_msgs/PointCloud2 (x, y, z float32 metres + id uint32 = segment id) of segment_points()'s
    output: colour it by the ``id`` channel in rviz."""
    points = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    ids = np.asarray(ids).reshape(-1)
    if len(ids) != len(points):
        raise ValueError(f"point cloud: {len(points)} points but {len(ids)} ids")
    cloud = np.empty(len(points), _CLOUD_DTYPE)
    cloud["x"], cloud["y"], cloud["z"], cloud["id"] = points[:, 0], points[:, 1], points[:, 2], ids
    Field = kit.type("sensor_msgs/msg/PointField")
    fields = [Field(name=n, offset=4 * i, datatype=_UINT32 if n == "id" else _FLOAT32, count=1)
              for i, n in enumerate(_CLOUD_DTYPE.names)]
    return kit.type("sensor_msgs/msg/PointCloud2")(
        header=header if header is not None else kit.header(), height=1, width=len(cloud), fields=fields,
        is_bigendian=False, point_step=_CLOUD_DTYPE.itemsize, row_step=_CLOUD_DTYPE.itemsize * len(cloud),
        data=kit.uint8_data(cloud.view(np.uint8)), is_dense=True)


def markers_msg(result: Segments3D, segments: Sequence[dict], categories: CategoryMap, header, *,
                alpha: float = 0.5, min_size: float = 0.02):
    """visualization_msgs/MarkerArray (rclpy) for rviz: a DELETEALL, then one translucent box per segment with
    depth (robust box, class colour, marker id = segment id, namespace "panoptic") and its class name above."""
    from visualization_msgs.msg import Marker, MarkerArray

    by_id = {int(s["id"]): s for s in segments}
    markers = [Marker(header=header, ns="panoptic", action=Marker.DELETEALL)]
    for i, seg_id in enumerate(result.ids):
        if result.valid_points[i] == 0 or int(seg_id) not in by_id:
            continue
        category = categories.category(int(by_id[int(seg_id)]["category_id"]))
        r, g, b = (v / 255.0 for v in category.color[:3])
        center, size = result.box_center[i], np.maximum(result.extent[i], min_size)
        box = Marker(header=header, ns="panoptic", id=int(seg_id), type=Marker.CUBE, action=Marker.ADD)
        box.pose.position.x, box.pose.position.y, box.pose.position.z = (float(v) for v in center)
        box.pose.orientation.w = 1.0
        box.scale.x, box.scale.y, box.scale.z = (float(v) for v in size)
        box.color.r, box.color.g, box.color.b, box.color.a = float(r), float(g), float(b), float(alpha)
        text = Marker(header=header, ns="panoptic_labels", id=int(seg_id), type=Marker.TEXT_VIEW_FACING,
                      action=Marker.ADD, text=f"{category.name} {int(seg_id)}")
        text.pose.position.x, text.pose.position.z = float(center[0]), float(center[2])
        text.pose.position.y = float(center[1] - size[1] / 2 - 0.05)      # above the box (y points down)
        text.pose.orientation.w = 1.0
        text.scale.z = 0.1
        text.color.r = text.color.g = text.color.b = text.color.a = 1.0
        markers += [box, text]
    return MarkerArray(markers=markers)
