"""panoptic_ros.stream: the per-frame chain the node, bag eval and the overhead benchmark share (no ROS)."""
import numpy as np
import pytest
import torch

from panoptic_ros.config import PanopticConfig
from panoptic_ros.data.categories import Category, CategoryMap
from panoptic_ros.geometry import Intrinsics
from panoptic_ros.panoptic.result import PanopticResult
from panoptic_ros.stream import FrameProcessor, StreamTracks
from panoptic_ros.tracking import THING_ID_BASE

H, W = 40, 60
CATEGORIES = CategoryMap([Category(1, "box", True, (200, 0, 0)), Category(2, "floor", False, (0, 0, 200))])


class BoxModel:
    """One box at column `x` (set per call) on a floor; ids numbered per frame (1 = floor, 2 = box), like the head."""

    categories = CATEGORIES

    def __init__(self):
        self.x = 10
        self.calls = []

    def predict(self, images, inference=None):
        self.calls.append((len(images), inference))
        out = []
        for _ in images:
            pan = np.ones((H, W), np.int32)
            pan[10:20, self.x:self.x + 10] = 2
            segments = [{"id": 1, "category_id": 1, "isthing": False, "score": 1.0, "bbox": [0, 0, W, H],
                         "area": int((pan == 1).sum())},
                        {"id": 2, "category_id": 0, "isthing": True, "score": 0.9, "bbox": [self.x, 10, 10, 10],
                         "area": 100}]
            out.append(PanopticResult(torch.from_numpy(pan), segments))
        return out


def _processor(tracking: bool = True) -> tuple[FrameProcessor, BoxModel]:
    cfg = PanopticConfig()
    cfg.inference.tracking = tracking
    model = BoxModel()
    return FrameProcessor(model, cfg), model


def test_predict_is_one_call_for_the_batch_with_the_settings():
    processor, model = _processor()
    results = processor.predict([np.zeros((H, W, 3), np.uint8)] * 3)
    assert len(results) == 3 and model.calls == [(3, processor.cfg.inference)]


def test_tracking_keeps_the_box_id_across_frames_and_reports_resets():
    processor, model = _processor()
    tracks = StreamTracks()
    image = np.zeros((H, W, 3), np.uint8)
    first = processor.process(image, header="h1", stamp=1.0, tracks=tracks)
    model.x = 12
    second = processor.process(image, header="h2", stamp=1.1, tracks=tracks)
    box = [s["id"] for s in second.segments if s["isthing"]]
    assert box == [s["id"] for s in first.segments if s["isthing"]] and box[0] >= THING_ID_BASE
    assert second.header == "h2" and second.image_rgb is image and tracks.resets == []
    assert second.panoptic[15, 15] == box[0]
    # the tracker's time of this frame, for the node's diagnostics
    assert tracks.last_update_s == tracks.tracker.last_update_s > 0
    tracks.request_reset("model changed")
    processor.process(image, header="h3", stamp=1.2, tracks=tracks)
    assert tracks.resets == ["model changed"]
    processor.process(image, header="h4", stamp=0.5, tracks=tracks)
    assert len(tracks.resets) == 1 and "backwards" in tracks.resets[0]


def test_without_tracking_ids_are_the_head_s_own():
    processor, _ = _processor(tracking=False)
    tracks = StreamTracks()
    frame = processor.process(np.zeros((H, W, 3), np.uint8), header=None, stamp=1.0, tracks=tracks)
    assert [s["id"] for s in frame.segments] == [1, 2] and tracks.tracker is None and tracks.last_update_s == 0


def test_tracker_time_is_that_of_the_last_frame_only():
    """Tracking turned off after a tracked frame: the stream reports 0, not the last tracked frame's time."""
    processor, _ = _processor()
    tracks = StreamTracks()
    image = np.zeros((H, W, 3), np.uint8)
    processor.process(image, header=None, stamp=1.0, tracks=tracks)
    assert tracks.last_update_s > 0
    processor.cfg.inference.tracking = False
    processor.process(image, header=None, stamp=1.1, tracks=tracks)
    assert tracks.last_update_s == 0 and tracks.tracker.last_update_s > 0


def test_depth_gives_3d_segments_and_points():
    processor, model = _processor(tracking=False)
    depth = np.full((H, W), 2.0, np.float32)
    k = Intrinsics.from_matrix([[50.0, 0, W / 2], [0, 50.0, H / 2], [0, 0, 1]], W, H)
    frame = processor.process(np.zeros((H, W, 3), np.uint8), header=None, stamp=1.0, depth=(depth, k))
    assert frame.has_depth and list(frame.segments_3d.ids) == [2]
    assert frame.segments_3d.centroid[0][2] == pytest.approx(2.0)
    points, ids = frame.points(stride=1)
    assert len(points) == 100 and set(ids.tolist()) == {2}
    flat = processor.process(np.zeros((H, W, 3), np.uint8), header=None, stamp=1.0)
    assert not flat.has_depth
    with pytest.raises(ValueError, match="no depth"):
        _ = flat.segments_3d
