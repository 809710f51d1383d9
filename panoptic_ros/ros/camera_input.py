"""What the node keeps per camera: its input topic and subscription state, statistics, tracker, depth matcher and
output publishers (no rclpy import: the node creates the ROS entities and stores them here).

One node serves one camera (parameter ``images`` empty: topic ``image``, outputs under ``~/``, as before) or
several (``images``: outputs under ``~/<camera>/``); every camera is one CameraInput, so both cases share the code.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from panoptic_ros.tracking import THING_ID_BASE, PanopticTracker

from . import diagnostics, qos
from .stamp_matcher import StampMatcher

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
    depth_subscriptions: list = field(default_factory=list)
    matcher: StampMatcher | None = None
    depth_topics: dict = field(default_factory=dict)  # stream -> resolved topic
    tracker: PanopticTracker | None = None
    _reset: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def request_reset(self, reason: str) -> None:
        """Ask for a tracker reset before this camera's next frame (called from the executor thread; the tracker
        itself is only touched by the inference thread)."""
        with self._lock:
            self._reset = reason

    def take_reset(self) -> str | None:
        with self._lock:
            reason, self._reset = self._reset, None
            return reason

    def tracker_for(self, inference_cfg, categories) -> PanopticTracker:
        """This camera's tracker, created on first use; it lives as long as the node, so a thing id is never
        reused (a model change resets it and hands it the new class map)."""
        if self.tracker is None:
            self.tracker = PanopticTracker(inference_cfg, categories)
        elif self.tracker.categories is not categories:
            self.tracker.reset("model changed")
            if categories is not None and len(categories) >= THING_ID_BASE:
                raise ValueError(f"tracking supports fewer than {THING_ID_BASE} classes, the model has "
                                 f"{len(categories)}")
            self.tracker.categories = categories
        self.tracker.configure(inference_cfg)
        return self.tracker

    def label(self) -> str:
        return f"camera {self.name} ({self.topic})"
