"""One processed frame as every output builder sees it (the node's topics, bag eval's output bag).

Shared work is done once and cached: the label map as numpy, the class-index image, and with depth the 3D segment
statistics.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from panoptic_ros.geometry import Intrinsics, Segments3D, segment_points, segments_3d

from .semantic import semantic_from_panoptic


@dataclass
class OutputFrame:
    """A frame's result with what its outputs need; depth (HxW metres, registered to the image) and intrinsics
    (of the depth image) are set when 3D output is wanted."""
    result: Any                        # PanopticResult: panoptic int32 [H, W] (tensor or array), segments
    header: Any                        # the input's std_msgs/Header (rclpy or rosbags, matching the kit)
    categories: Any                    # CategoryMap of the model
    image_rgb: np.ndarray | None = None   # the input image (overlay); None: image-based outputs are skipped
    overlay_alpha: float = 0.5
    depth: np.ndarray | None = None
    intrinsics: Intrinsics | None = None
    max_depth: float = np.inf

    @cached_property
    def panoptic(self) -> np.ndarray:
        pan = self.result.panoptic
        pan = pan.detach().cpu().numpy() if hasattr(pan, "detach") else np.asarray(pan)
        return pan.astype(np.int32, copy=False)

    @cached_property
    def semantic(self) -> np.ndarray:
        """Class index per pixel (uint8, unknown 255; uint16, unknown 65535, above 255 classes): ~/semantic and
        ~/semantic_color."""
        return semantic_from_panoptic(self.panoptic, self.segments, len(self.categories))

    @property
    def segments(self) -> list[dict]:
        return self.result.segments

    @property
    def has_depth(self) -> bool:
        return self.depth is not None and self.intrinsics is not None

    @cached_property
    def thing_ids(self) -> list[int]:
        return [int(s["id"]) for s in self.segments if s["isthing"]]

    @cached_property
    def segments_3d(self) -> Segments3D:
        """Centroid and box of every thing segment from the depth (ValueError without depth)."""
        if not self.has_depth:
            raise ValueError("this frame has no depth")
        return segments_3d(self.depth, self.intrinsics, self.panoptic, ids=self.thing_ids, max_depth=self.max_depth)

    def points(self, stride: int = 4) -> tuple[np.ndarray, np.ndarray]:
        """Every stride-th 3D point of the thing segments and its segment id (a light point cloud)."""
        if not self.has_depth:
            raise ValueError("this frame has no depth")
        return segment_points(self.depth, self.intrinsics, self.panoptic, ids=self.thing_ids, stride=stride,
                              max_depth=self.max_depth)
