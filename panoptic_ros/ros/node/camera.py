"""What the node keeps per camera: its input topic and subscription state, statistics, tracks, depth matcher and
output publishers (no rclpy import: the node creates the ROS entities and stores them here).

One node serves one camera (parameter ``images`` empty: topic ``image``, outputs under ``~/``) or several
(``images``: outputs under ``~/<camera>/``); every camera is one CameraInput, so both cases share the code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from panoptic_ros.stream import StreamTracks

from .. import diagnostics, qos
from ..stamp_matcher import StampMatcher

DEPTH_STREAMS = ("depth", "camera_info")


@dataclass(eq=False)
class CameraInput:
    """One camera of the node. ``prefix`` is what its relative topic names start with ("" for the single camera,
    "<name>/" with several): outputs ``~/<prefix><output>``, depth inputs ``<prefix>depth``,
    ``<prefix>camera_info``."""
    name: str
    topic: str                         # resolved input topic (with /compressed for image_transport=compressed)
    prefix: str = ""
    stats: diagnostics.FrameStats = field(default_factory=diagnostics.FrameStats)
    watchdog: qos.FrameWatchdog | None = None
    subscription: Any = None
    reliability: Any = None
    qos: Any = None
    outputs: list = field(default_factory=list)      # [(Output, publisher)]
    pub_3d: Any = None                                # ~/<prefix>instances_3d (use_depth)
    pub_markers: Any = None                           # ~/<prefix>markers (on demand)
    pub_points: Any = None                            # ~/<prefix>points (on demand)
    depth_subscriptions: dict = field(default_factory=dict)   # stream -> subscription
    depth_reliability: dict = field(default_factory=dict)     # stream -> ReliabilityPolicy subscribed with
    depth_publishers: dict = field(default_factory=dict)      # stream -> publishers seen (graph check, 1 Hz)
    matcher: StampMatcher | None = None
    depth_topics: dict = field(default_factory=dict)  # stream -> resolved topic
    tracks: StreamTracks = field(default_factory=StreamTracks)   # touched by the output thread only

    def label(self) -> str:
        return f"camera {self.name} ({self.topic})"
