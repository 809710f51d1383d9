"""Stable ids in the node (tracking) and the latched class map ~/labels, through a live graph.

The node runs the blob test model (panoptic_test_blob_model.py): red regions are "blob" things numbered per
frame in raster order, so when blob A moves below blob B their per-frame ids swap; with tracking on the ids
on ~/panoptic and ~/instances must not.
"""
import numpy as np
import pytest

pytest.importorskip("rclpy")
from conftest import image_msg  # noqa: E402
from nodetools import NodeOutputs, check_consistent, label_image  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from panoptic_ros.tracking import THING_ID_BASE, stuff_id  # noqa: E402

pytestmark = pytest.mark.ros
NODE = "/panoptic_node"
H, W = 120, 160
RED_BGR = np.array([0, 0, 255], np.uint8)          # an untinted blob pixel on ~/overlay (bgr8)


def scene(i: int) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """Frame i: blob A moves down 6 px per frame past blob B (fixed); returns the image and a pixel of each."""
    img = np.zeros((H, W, 3), np.uint8)
    img[10 + 6 * i:30 + 6 * i, 20:40, 0] = 255
    img[40:60, 100:120, 0] = 255
    return img, (20 + 6 * i, 30), (50, 110)


@pytest.fixture(scope="module")
def node(node_launcher):
    return node_launcher({"model": "blob", "stuff_area_threshold": 0}, factory="panoptic_test_blob_model:load")


@pytest.fixture(scope="module")
def setup(ros_graph, node):
    from panoptic_ros.msg import PanopticLabelArray
    from panoptic_ros.ros.labels import labels_qos

    labels = []
    ros_graph.node.create_subscription(PanopticLabelArray, f"{NODE}/labels", labels.append, labels_qos())
    outputs = NodeOutputs(ros_graph, overlay=True)
    pub = ros_graph.publisher(Image, "/cam/image_raw")
    assert ros_graph.wait_for_subscriber(pub, 60)
    return outputs, pub, labels


def run(setup, rgb, stamp):
    outputs, pub, _ = setup
    pub.publish(image_msg(rgb, "rgb8", stamp=stamp))
    out = outputs.wait_for(stamp, 60)
    check_consistent(out, H, W, "camera")
    return out


def instance(out, seg_id):
    return next(i for i in out["instances"].instances if i.id == seg_id)


def test_labels_are_latched_for_a_late_subscriber(ros_graph, setup):
    labels = setup[2]
    assert ros_graph.spin_until(lambda: labels, 30), "no ~/labels message (transient local) after start"
    msg = labels[-1]
    assert [(la.class_index, la.name, la.is_thing) for la in msg.labels] == [(0, "blob", True), (1, "floor", False)]
    assert msg.semantic_unknown == 255 and msg.model == "blob"


def test_ids_stay_with_a_moving_object_and_tracks_age(ros_graph, setup):
    a_ids, b_ids, raw_order, b_overlay = [], [], [], []
    first = (5000, 0)
    for i in range(10):
        rgb, a, b = scene(i)
        stamp = (first[0] + i // 10, (i % 10) * 100_000_000)        # 10 Hz
        out = run(setup, rgb, stamp)
        pan = label_image(out["panoptic"])
        a_ids.append(int(pan[a])), b_ids.append(int(pan[b]))
        overlay = np.frombuffer(out["overlay"].data, np.uint8).reshape(H, W, 3)
        b_overlay.append(overlay[44:56, 104:116].copy())             # inside blob B (it does not move)
        raw_order.append(a[0] < 40)                                   # A above B's top: A first in raster order
        assert int(pan[0, W - 1]) == stuff_id(1)                      # floor keeps its fixed id
        floor = instance(out, stuff_id(1))
        assert not floor.is_thing and floor.track_age == 0
    assert len(set(raw_order)) == 2, "the scene must swap the per-frame order of the blobs"
    assert len(set(a_ids)) == 1 and len(set(b_ids)) == 1, (a_ids, b_ids)
    assert a_ids[0] != b_ids[0] and min(a_ids[0], b_ids[0]) > THING_ID_BASE
    # overlay colours follow the id: B's per-frame id changed with the raster order, its colour did not
    assert (b_overlay[0] == b_overlay[-1]).all() and not (b_overlay[0] == RED_BGR).all(axis=-1).all()
    last_a = instance(out, a_ids[-1])
    assert last_a.is_thing and last_a.track_age == 10
    assert (last_a.first_seen.sec, last_a.first_seen.nanosec) == first


def test_stamp_jumping_back_resets_the_tracker(ros_graph, setup, node):
    since = node.mark()
    rgb, a, _ = scene(0)
    out = run(setup, rgb, (4000, 0))                                 # before every earlier frame: a bag loop
    assert node.wait_for_log_since(since, "tracker reset: stamp jumped backwards", 10), node.log(since)[-2000:]
    new_a = int(label_image(out["panoptic"])[a])
    assert new_a > THING_ID_BASE + 2, "a reset keeps counting: no thing id is reused"
    assert instance(out, new_a).track_age == 1


def test_model_change_republishes_labels_and_resets_tracks(ros_graph, setup, node):
    labels = setup[2]
    before = len(labels)
    since = node.mark()
    results = ros_graph.set_parameters(NODE, {"model": "blob?delay=0"})
    assert all(r.successful for r in results), [r.reason for r in results]
    assert node.wait_for_log_since(since, "loaded model", 30), node.log(since)[-2000:]
    assert ros_graph.spin_until(lambda: len(labels) > before, 30), "~/labels not republished after a model change"
    assert labels[-1].model == "blob?delay=0"
    rgb, _, _ = scene(1)
    run(setup, rgb, (4001, 0))
    assert node.wait_for_log_since(since, "tracker reset: model changed", 10), node.log(since)[-2000:]


def test_tracking_off_numbers_ids_per_frame(ros_graph, setup):
    results = ros_graph.set_parameters(NODE, {"tracking": False})
    assert all(r.successful for r in results)
    rgb, a, b = scene(9)
    out = run(setup, rgb, (4002, 0))
    pan = label_image(out["panoptic"])
    assert {int(pan[a]), int(pan[b])} == {2, 3}                      # blob model's own raster-order ids
    assert all(i.track_age == 0 for i in out["instances"].instances)
    results = ros_graph.set_parameters(NODE, {"tracking": True})
    assert all(r.successful for r in results)
    out = run(setup, rgb, (4003, 0))
    assert int(label_image(out["panoptic"])[a]) > THING_ID_BASE


def test_frames_dropped_under_load_keep_the_tracks(ros_graph, setup):
    """Only every 4th frame arrives after the first ones (the newest-frame slot drops the rest): blob A jumps
    further than its own height between them; the stamps tell the tracker how far to move it."""
    a_ids, b_ids = [], []
    for i in (0, 1, 2, 3, 7, 11, 15):
        rgb, a, b = scene(i)
        pan = label_image(run(setup, rgb, (6000 + i // 10, (i % 10) * 100_000_000))["panoptic"])
        a_ids.append(int(pan[a])), b_ids.append(int(pan[b]))
    assert len(set(a_ids)) == 1 and len(set(b_ids)) == 1 and a_ids[0] != b_ids[0], (a_ids, b_ids)
