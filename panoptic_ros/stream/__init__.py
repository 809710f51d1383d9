"""Frames of a live stream (a camera topic, a bag topic): predict -> track -> output frame (+ 3D with depth).

Why a package of its own: the node, `panoptic bag eval` and the ROS overhead benchmark run the same per-frame
chain; written once here it cannot drift. ROS-free (it sits above tracking / geometry / visualization, below
evaluation): headers are opaque objects handed through to the output builders.
"""
from .frame import OutputFrame
from .processor import FrameFinisher, FrameProcessor
from .tracks import StreamTracks

__all__ = ["FrameFinisher", "FrameProcessor", "OutputFrame", "StreamTracks"]
