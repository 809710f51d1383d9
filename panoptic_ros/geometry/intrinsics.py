"""Pinhole camera intrinsics and their scaling to a resized image (no ROS).

Pixel convention: ROS / OpenCV, (u, v) = (column, row) with pixel centres at integer coordinates, so
scaling an image by s maps a coordinate c to (c + 0.5) * s - 0.5. Distortion is ignored: the depth image
is assumed rectified (registered depth streams are).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ASPECT_TOLERANCE = 0.01   # relative difference of width/height ratios still taken as "the same aspect"


@dataclass(frozen=True)
class Intrinsics:
    """fx, fy, cx, cy in pixels of an image of width x height."""
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self):
        if not (np.isfinite([self.fx, self.fy, self.cx, self.cy]).all() and self.fx > 0 and self.fy > 0):
            raise ValueError(f"intrinsics: fx, fy must be finite and > 0 (got fx={self.fx}, fy={self.fy}); "
                             "an all-zero K means the camera is not calibrated")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"intrinsics: image size must be positive, got {self.width}x{self.height}")

    @classmethod
    def from_matrix(cls, k, width: int, height: int) -> Intrinsics:
        """From a 3x3 camera matrix K (or its 9 row-major values, as in sensor_msgs/CameraInfo.k)."""
        k = np.asarray(k, dtype=np.float64).reshape(-1)
        if k.size != 9:
            raise ValueError(f"intrinsics: K needs 9 values, got {k.size}")
        return cls(float(k[0]), float(k[4]), float(k[2]), float(k[5]), int(width), int(height))

    def scaled_to(self, width: int, height: int) -> Intrinsics:
        """The intrinsics of this image resized to width x height (same field of view).

        Raises ValueError when the aspect ratio differs: that is a crop or another camera, not a scaling.
        """
        if (width, height) == (self.width, self.height):
            return self
        check_same_aspect((self.width, self.height), (width, height), "camera intrinsics", "image")
        sx, sy = width / self.width, height / self.height
        return Intrinsics(self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5,
                          int(width), int(height))


def check_same_aspect(size_a: tuple[int, int], size_b: tuple[int, int], name_a: str, name_b: str) -> None:
    """ValueError unless two (width, height) sizes have the same aspect ratio (within ASPECT_TOLERANCE)."""
    (wa, ha), (wb, hb) = size_a, size_b
    if min(wa, ha, wb, hb) <= 0:
        raise ValueError(f"{name_a} {wa}x{ha} / {name_b} {wb}x{hb}: sizes must be positive")
    ratio_a, ratio_b = wa / ha, wb / hb
    if abs(ratio_a - ratio_b) > ASPECT_TOLERANCE * ratio_a:
        raise ValueError(f"{name_a} is {wa}x{ha} but {name_b} is {wb}x{hb}: different aspect ratios, so one is not "
                         "a scaled version of the other (is the depth registered to the colour image?)")
