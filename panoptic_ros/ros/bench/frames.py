"""Synthetic camera frames for the ROS benchmarks (what a camera driver would publish: bgr8)."""
from __future__ import annotations

import cv2
import numpy as np

from panoptic_ros.data.synth import render_scene


def bgr_scenes(n: int, width: int, height: int, seed: int) -> list[np.ndarray]:
    """n distinct synthetic scenes (at least one), BGR uint8 HxWx3, contiguous."""
    rng = np.random.default_rng(seed)
    return [np.ascontiguousarray(cv2.cvtColor(render_scene(rng, width, height)[0], cv2.COLOR_RGB2BGR))
            for _ in range(max(1, n))]
