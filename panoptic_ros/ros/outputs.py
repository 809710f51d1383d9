"""The node's outputs, each described once: topic, message type, how it is built from a result, how it is read.

Why: three programs handle the same outputs - the node publishes them, `panoptic bag eval` writes them into a
bag as the node would, `panoptic bag record-eval` subscribes to them and decodes what arrives. They all iterate
``OUTPUTS`` (a panoptic_ros.registry.Registry), so adding an output topic is one new entry here (or in a plug-in
/ test module: ``@outputs.register`` on the class) plus its test; nothing else lists the outputs.

An entry is an object (usually an ``Output`` subclass) with
    name        topic under the node's namespace (``~/<name>``)
    msgtype     ROS message type, e.g. "sensor_msgs/msg/Image"
    on_demand   True: built only when someone listens (a subscriber; the node parameter ``publish_<name>`` if
                the config has one; ``bag eval`` unless --no-overlay); False: every frame
    build(frame, kit) -> message   from an OutputFrame; kit = conversions.RCLPY (node) or
                conversions.RosbagsMessages(store) (bag writer) makes the message objects
    decode(msg) -> numpy array / records   of a received message (rclpy or rosbags)
No rclpy import here: the bag tools use this module with rosbags only.
"""
from __future__ import annotations

import cv2
import numpy as np

from panoptic_ros.registry import Registry
from panoptic_ros.stream import OutputFrame
from panoptic_ros.stream.semantic import UNKNOWN_SEMANTIC_16
from panoptic_ros.visualization import class_color_table, colorize_panoptic, render_overlay

from . import conversions

OUTPUTS = Registry("node output")
__all__ = ["OUTPUTS", "Output", "OutputFrame", "all_outputs", "forced", "register", "select", "topics"]


class Output:
    """Base of an output entry (see the module docstring)."""
    name: str = ""
    msgtype: str = conversions.IMAGE
    on_demand: bool = False

    def build(self, frame: OutputFrame, kit=conversions.RCLPY):
        raise NotImplementedError

    def decode(self, msg):
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<output {self.name} ({self.msgtype})>"


def register(output):
    """Class decorator (or call with an instance): add an output to OUTPUTS under its ``name``."""
    obj = output() if isinstance(output, type) else output
    OUTPUTS.register(obj.name, obj)
    return output


def all_outputs() -> list:
    """Every registered output, in registration order (built-ins first)."""
    return [OUTPUTS.get(name) for name in OUTPUTS.names()]


def forced(output, node_cfg) -> bool:
    """True when the node config asks for an on-demand output without subscribers (``publish_<name>``)."""
    return bool(getattr(node_cfg, f"publish_{output.name}", False))


def topics(namespace: str, outputs=None) -> dict[str, str]:
    """Output name -> full topic name under a node's namespace, e.g. /panoptic_node/panoptic."""
    ns = "/" + namespace.strip("/") if namespace.strip("/") else ""
    return {o.name: f"{ns}/{o.name}" for o in (all_outputs() if outputs is None else outputs)}


def select(exclude=()) -> list:
    """The registered outputs without the named ones (unknown names raise ValueError listing the valid ones)."""
    for name in exclude:
        OUTPUTS.get(name)
    return [o for o in all_outputs() if o.name not in set(exclude)]


# ------------------------------------------------------------------------------------------------ built-ins
@register
class PanopticOutput(Output):
    """~/panoptic: sensor_msgs/Image 32SC1, segment id per pixel (0 = unknown) = PanopticInstance.id."""
    name = "panoptic"

    def build(self, frame, kit=conversions.RCLPY):
        return conversions.panoptic_label_msg(frame.panoptic, frame.header, kit)

    def decode(self, msg) -> np.ndarray:
        """int32 [H, W] segment ids."""
        return np.array(conversions.image_msg_to_array(msg, ("32SC1",))[..., 0], dtype=np.int32)


@register
class SemanticOutput(Output):
    """~/semantic: sensor_msgs/Image mono8 class index, 255 = unknown (16UC1 / 65535 above 255 classes)."""
    name = "semantic"

    def build(self, frame, kit=conversions.RCLPY):
        return conversions.semantic_msg(frame.semantic, frame.header, kit)

    def decode(self, msg) -> np.ndarray:
        """uint8 (or uint16) [H, W] class index."""
        return np.array(conversions.image_msg_to_array(msg, ("mono8", "16UC1"))[..., 0])


@register
class InstancesOutput(Output):
    """~/instances: panoptic_ros/PanopticInstanceArray, one PanopticInstance per segment."""
    name = "instances"
    msgtype = conversions.INSTANCE_ARRAY

    def build(self, frame, kit=conversions.RCLPY):
        return conversions.instances_msg(frame.panoptic, frame.segments, frame.categories, frame.header, kit)

    def decode(self, msg) -> list[dict]:
        """Instance records (id, class_index, category_id (the dataset's), label, is_thing, score, area, bbox x y w h,
        centroid x y, tracking fields)."""
        return conversions.instance_array_records(msg)


@register
class OverlayOutput(Output):
    """~/overlay: sensor_msgs/Image bgr8, the input tinted per segment with contours, labels and scores."""
    name = "overlay"
    on_demand = True

    def build(self, frame, kit=conversions.RCLPY):
        if frame.image_rgb is None:
            return None
        rgb = render_overlay(frame.image_rgb, frame.panoptic, frame.segments, frame.categories,
                             alpha=frame.overlay_alpha)
        return conversions.rgb_to_bgr8_msg(rgb, frame.header, kit)

    def decode(self, msg) -> np.ndarray:
        """uint8 RGB [H, W, 3]."""
        return conversions.image_msg_to_rgb(msg)


@register
class SemanticColorOutput(Output):
    """~/semantic_color: sensor_msgs/Image rgb8, ~/semantic drawn in the class colours (those of ~/labels: the
    model's, or the node's palette file); unknown black. A viewable twin of the class-index image."""
    name = "semantic_color"
    on_demand = True

    def build(self, frame, kit=conversions.RCLPY):
        semantic = frame.semantic
        if semantic.dtype == np.uint8:       # cv2.LUT: ~10x faster than np.take on a 640x480 frame
            table = class_color_table(frame.categories, 256).reshape(256, 1, 3)
            rgb = cv2.LUT(cv2.merge([semantic, semantic, semantic]), table)
        else:
            rgb = np.take(class_color_table(frame.categories, UNKNOWN_SEMANTIC_16 + 1), semantic, axis=0)
        return conversions.numpy_to_image_msg(rgb, "rgb8", frame.header, kit)

    def decode(self, msg) -> np.ndarray:
        """uint8 RGB [H, W, 3]."""
        return conversions.image_msg_to_rgb(msg)


@register
class PanopticColorOutput(Output):
    """~/panoptic_color: sensor_msgs/Image rgb8, every segment in its colour as ~/overlay draws it (stuff in its
    class colour, things in the class colour jittered by the segment id, so a tracked object keeps its colour);
    unknown black."""
    name = "panoptic_color"
    on_demand = True

    def build(self, frame, kit=conversions.RCLPY):
        rgb = colorize_panoptic(frame.panoptic, frame.segments, frame.categories)
        return conversions.numpy_to_image_msg(rgb, "rgb8", frame.header, kit)

    def decode(self, msg) -> np.ndarray:
        """uint8 RGB [H, W, 3]."""
        return conversions.image_msg_to_rgb(msg)
