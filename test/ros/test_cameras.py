"""Camera names from input topics and the fair multi-camera batch scheduler (no ROS graph)."""
import threading
import time

import pytest

from panoptic_ros.ros.node.batching import BatchWorker, FairBatchScheduler
from panoptic_ros.ros.node.camera_names import CameraNameError, camera_names


def names(*entries):
    return [n for n, _ in camera_names(entries)]


def test_names_follow_the_documented_rule():
    assert names("/front/image_raw") == ["front"]
    assert names("/robot/left/color/image_raw/compressed", "/robot/right/image_rect_color") == ["left", "right"]
    assert names("/a/front/image_raw", "/b/front/image_raw", "/rear/image") == ["a_front", "b_front", "rear"]
    assert names("/image_raw") == ["image_raw"]
    assert names("/3d-cam.x/image", "wrist=/some/topic/image_raw") == ["cam_3d_cam_x", "wrist"]
    assert camera_names(["wrist = /w/image"]) == [("wrist", "/w/image")]


@pytest.mark.parametrize("entries", [("/front/image", "/front/image_raw"), ("/cam/image", "/cam/image"),
                                     ("x=/a/image", "x=/b/image")])
def test_colliding_names_raise_a_clear_error(entries):
    with pytest.raises(CameraNameError, match="map to the camera name"):
        camera_names(entries)


def test_bad_entries():
    for bad in ([], ["=/a/image"], ["/"]):
        with pytest.raises(CameraNameError):
            camera_names(bad)


def test_batch_takes_everything_pending_and_keeps_only_the_newest_frame():
    s = FairBatchScheduler(["a", "b", "c"])
    assert s.take() == []
    assert not s.put("a", 1) and s.put("a", 2) and not s.put("c", 9)
    assert s.take() == [("a", 2), ("c", 9)]
    assert s.dropped == {"a": 1, "b": 0, "c": 0}
    assert s.take(timeout=0.01) == []
    with pytest.raises(KeyError, match="unknown camera"):
        s.put("d", 0)


def test_round_robin_when_the_batch_size_limits():
    s = FairBatchScheduler(["a", "b", "c", "d"], max_batch=2)
    served = []
    for _ in range(6):                                  # every camera always has a frame pending
        for cam in s.cameras:
            s.put(cam, cam)
        served.append([c for c, _ in s.take()])
    assert served == [["a", "b"], ["c", "d"]] * 3
    assert [c for c, _ in s.take()] == ["a", "b"]       # the frames left from the last round
    s.put("b", 1)
    s.put("d", 1)
    assert [c for c, _ in s.take()] == ["d", "b"]       # idle cameras skipped; order continues after b


def test_a_stopped_camera_does_not_stall_the_others():
    s = FairBatchScheduler(["live", "dead"], max_batch=0)
    batches = []
    worker = BatchWorker(s, lambda batch: batches.append([c for c, _ in batch])).start()
    try:
        s.put("dead", 0)                                # one frame, then the camera stops
        for i in range(20):
            s.put("live", i)
            assert worker.wait_idle(2.0)
        assert sum(b.count("live") for b in batches) == 20
        assert sum(b.count("dead") for b in batches) == 1
    finally:
        assert worker.stop()


def test_worker_survives_errors_and_blocks_until_a_frame_comes():
    s = FairBatchScheduler(["a"])
    errors, seen = [], []

    def process(batch):
        if batch[0][1] == "bad":
            raise RuntimeError("boom")
        seen.append(batch)

    worker = BatchWorker(s, process, on_error=lambda exc, batch: errors.append(str(exc))).start()
    try:
        s.put("a", "bad")
        assert worker.wait_idle(2.0) and errors == ["boom"]
        threading.Timer(0.05, s.put, ("a", "ok")).start()
        time.sleep(0.2)
        assert worker.wait_idle(2.0) and seen == [[("a", "ok")]]
    finally:
        assert worker.stop()
    assert s.take(timeout=None) == [] and not s.put("a", 1)   # closed: returns at once, takes nothing
