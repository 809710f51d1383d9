"""Stable segment ids across frames (ROS-free): :class:`PanopticTracker` and the id layout.

See :mod:`panoptic_ros.tracking.tracker` for the design and docs/tracking.md for its use and measured numbers.
"""
from .tracker import ID_SOURCES, MAX_ID, THING_ID_BASE, TRACK_STAGES, PanopticTracker, stuff_id

__all__ = ["ID_SOURCES", "MAX_ID", "THING_ID_BASE", "PanopticTracker", "TRACK_STAGES", "stuff_id"]
