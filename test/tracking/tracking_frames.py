"""Frames for the tracker tests: a road with discs drawn as rectangles (later ones on top), as a fuse()-style
PanopticResult, and an image painting them (the tracker's appearance and camera input)."""
import numpy as np
import torch

from panoptic_ros.panoptic.result import PanopticResult

DISC, ROAD = 0, 5


def rect_frame(rects, h=60, w=120) -> PanopticResult:
    """Road + rectangles [(x, y, w, h)] of discs, in order (later ones on top): ids 2.. in that order; a fully
    covered rectangle has no segment; boxes and areas are those of the visible pixels."""
    pan = np.ones((h, w), np.int32)
    for k, (x, y, rw, rh) in enumerate(rects):
        pan[max(y, 0):y + rh, max(x, 0):x + rw] = k + 2
    segments = [{"id": 1, "category_id": ROAD, "isthing": False, "score": 1.0, "bbox": [0, 0, w, h], "area": 1}]
    for k in range(len(rects)):
        ys, xs = np.nonzero(pan == k + 2)
        if len(ys):
            segments.append({"id": k + 2, "category_id": DISC, "isthing": True, "score": 0.9, "area": len(ys),
                             "bbox": [int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1]})
    return PanopticResult(torch.from_numpy(pan), segments)


def painted(result: PanopticResult, colours, background: np.ndarray | None = None) -> np.ndarray:
    """uint8 [H, W, 3] image of a rect_frame: the road black (or ``background``), rectangle k in colours[k]."""
    pan = result.panoptic.numpy()
    image = np.zeros(pan.shape + (3,), np.uint8) if background is None else background.copy()
    for k, colour in enumerate(colours):
        image[pan == k + 2] = colour
    return image
