"""The node's output side: per camera a publisher per registered output (outputs.py) and the 3D outputs, and
publishing one finished frame on them.

Why apart from the flow: which topics exist, their QoS and the on-demand rule are one concern; the flow only
hands over a finished OutputFrame.
"""
from __future__ import annotations

from collections.abc import Callable

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import PointCloud2
from visualization_msgs.msg import MarkerArray

from panoptic_ros.msg import PanopticInstance3DArray
from panoptic_ros.stream import OutputFrame

from .. import conversions, outputs
from .. import depth_conversions as dc
from .camera import CameraInput

OUTPUT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE)
POINT_STRIDE = 4              # every 4th point of a segment in ~/points (a light rviz cloud)


def create_publishers(make: Callable, cam: CameraInput, use_depth: bool, events) -> None:
    """cam's publishers: every registered output under ~/<prefix>, with use_depth instances_3d, markers, points.
    make: create_publisher (plain node) or create_lifecycle_publisher."""
    cam.outputs = [(out, make(conversions.RCLPY.type(out.msgtype), f"~/{cam.prefix}{out.name}", OUTPUT_QOS,
                              event_callbacks=events)) for out in outputs.all_outputs()]
    if use_depth:
        cam.pub_3d = make(PanopticInstance3DArray, f"~/{cam.prefix}instances_3d", OUTPUT_QOS, event_callbacks=events)
        cam.pub_markers = make(MarkerArray, f"~/{cam.prefix}markers", OUTPUT_QOS)
        cam.pub_points = make(PointCloud2, f"~/{cam.prefix}points", OUTPUT_QOS)


def destroy_publishers(destroy: Callable, cam: CameraInput) -> None:
    for pub in [p for _, p in cam.outputs] + [cam.pub_3d, cam.pub_markers, cam.pub_points]:
        if pub is not None:
            destroy(pub)
    cam.outputs, cam.pub_3d, cam.pub_markers, cam.pub_points = [], None, None, None


def publish_frame(cam: CameraInput, frame: OutputFrame, node_cfg, header_3d=None) -> None:
    """Every output of the frame with the input's header; on-demand ones only when subscribed or forced; the 3D
    outputs with header_3d when the frame has depth."""
    for out, publisher in cam.outputs:
        if out.on_demand and not (outputs.forced(out, node_cfg) or publisher.get_subscription_count() > 0):
            continue
        msg = out.build(frame, conversions.RCLPY)
        if msg is not None:
            publisher.publish(msg)
    if frame.has_depth and cam.pub_3d is not None:
        publish_3d(cam, frame, header_3d)


def publish_3d(cam: CameraInput, frame: OutputFrame, header) -> None:
    """~/<prefix>instances_3d, and markers / points when subscribed."""
    categories = frame.categories
    cam.pub_3d.publish(dc.instances_3d_msg(frame.segments_3d, frame.segments, categories, header))
    if cam.pub_markers.get_subscription_count() > 0:
        cam.pub_markers.publish(dc.markers_msg(frame.segments_3d, frame.segments, categories, header))
    if cam.pub_points.get_subscription_count() > 0:
        points, point_ids = frame.points(POINT_STRIDE)
        cam.pub_points.publish(dc.point_cloud_msg(points, point_ids, header))
