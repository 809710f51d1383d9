"""3D from depth for panoptic segments (no ROS): pinhole intrinsics and per-segment centroid / extent.

    from panoptic_ros.geometry import Intrinsics, segments_3d
    k = Intrinsics.from_matrix(camera_info_k, width, height).scaled_to(depth.shape[1], depth.shape[0])
    seg3d = segments_3d(depth_m, k, panoptic, ids=[s["id"] for s in segments if s["isthing"]])

The depth image must be registered to the colour image (same viewpoint and optical frame, e.g. a RealSense
``aligned_depth_to_color`` topic), at the same size or a scaled size with the same aspect ratio.
"""
from .intrinsics import Intrinsics
from .segments3d import Segments3D, back_project, segment_points, segments_3d

__all__ = ["Intrinsics", "Segments3D", "back_project", "segment_points", "segments_3d"]
