"""The parameter-free panoptic head: fuse semantic logits and detections into one panoptic map (no ROS)."""
from panoptic_ros.registry import MERGE_POLICIES

from .fuse import fuse, fuse_batch
from .policies import MergePolicy, PolicyUnavailable, box_policies, get_policy
from .result import PanopticResult

__all__ = ["fuse", "fuse_batch", "PanopticResult", "MERGE_POLICIES", "MergePolicy", "PolicyUnavailable",
           "box_policies", "get_policy"]
