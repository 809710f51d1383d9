"""Several cameras in one node (parameter images): outputs per camera under ~/<camera>/ with their own header,
frames of several cameras in one network batch, a silent camera does not stall the others, one /diagnostics
status per camera, colliding camera names refused at start-up.

The node runs the blob test model (panoptic_test_blob_model.py) with 0.2 s per predict() call; it prints the
size of every batch into the node's log.
"""
import numpy as np
import pytest

pytest.importorskip("rclpy")
from conftest import image_msg  # noqa: E402
from nodetools import check_consistent, next_stamp, stamp_of  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from panoptic_ros.msg import PanopticInstanceArray  # noqa: E402
from panoptic_ros.ros.diagnostics import diagnostic_values  # noqa: E402

pytestmark = pytest.mark.ros
NODE = "/panoptic_node"
CAMERAS = {"front": ("/cams/a/image_raw", (120, 160)), "rear": ("/rear/image_raw", (96, 128))}
OUTPUTS = {"panoptic": Image, "semantic": Image, "instances": PanopticInstanceArray}


def frame(size, x):
    img = np.zeros((*size, 3), np.uint8)
    img[20:40, x:x + 20, 0] = 255
    return img


@pytest.fixture(scope="module")
def node(node_launcher):
    return node_launcher({"model": "blob?delay=0.2", "stuff_area_threshold": 0,
                          "images": "['front=/cams/a/image_raw', '/rear/image_raw']"},
                         factory="panoptic_test_blob_model:load")


@pytest.fixture(scope="module")
def setup(ros_graph, node):
    from diagnostic_msgs.msg import DiagnosticArray

    received = {cam: {name: ros_graph.collect(t, f"{NODE}/{cam}/{name}") for name, t in OUTPUTS.items()}
                for cam in CAMERAS}
    pubs = {cam: ros_graph.publisher(Image, topic) for cam, (topic, _) in CAMERAS.items()}
    for pub in pubs.values():
        assert ros_graph.wait_for_subscriber(pub, 60)
    diagnostics = ros_graph.collect(DiagnosticArray, "/diagnostics")
    return received, pubs, diagnostics


def publish(setup, cam, x=10):
    _, pubs, _ = setup
    stamp = next_stamp()
    pubs[cam].publish(image_msg(frame(CAMERAS[cam][1], x), "rgb8", stamp=stamp, frame_id=f"{cam}_optical"))
    return stamp


def wait_outputs(ros_graph, setup, cam, stamp, timeout=30.0):
    received = setup[0][cam]

    def found():
        return {n: m for n, msgs in received.items() for _, m in msgs if stamp_of(m) == stamp}
    ros_graph.spin_until(lambda: len(found()) == len(OUTPUTS), timeout)
    out = found()
    assert len(out) == len(OUTPUTS), f"camera {cam}: outputs {sorted(out)} for stamp {stamp} within {timeout} s"
    return out


def test_each_camera_gets_its_outputs_with_its_own_header(ros_graph, setup):
    for cam, (_, size) in CAMERAS.items():
        stamp = publish(setup, cam)
        out = wait_outputs(ros_graph, setup, cam, stamp)
        check_consistent(out, size[0], size[1], f"{cam}_optical")
        assert any(i.is_thing for i in out["instances"].instances)


def test_pending_frames_of_several_cameras_run_as_one_batch(ros_graph, setup, node):
    since = node.mark()
    for _ in range(5):                   # the first frame keeps the model busy; the next two wait and go together
        publish(setup, "front")
        pending = [(cam, publish(setup, cam)) for cam in CAMERAS]
        for cam, stamp in pending:
            wait_outputs(ros_graph, setup, cam, stamp)
        if "blob model batch of 2" in node.log(since):
            break
    assert "blob model batch of 2" in node.log(since), node.log(since)[-2000:]


def test_a_silent_camera_does_not_stall_the_other(ros_graph, setup):
    for x in (10, 30, 50):
        stamp = publish(setup, "rear", x)
        out = wait_outputs(ros_graph, setup, "rear", stamp)
        check_consistent(out, *CAMERAS["rear"][1], "rear_optical")


def test_one_diagnostics_status_per_camera(ros_graph, setup):
    diagnostics = setup[2]

    def names():
        return {s.name: diagnostic_values(s) for _, a in diagnostics for s in a.status
                if s.name.startswith("panoptic_node:")}
    ros_graph.spin_until(lambda: len(names()) >= 2, 10)
    statuses = names()
    front = next(v for n, v in statuses.items() if "front (/cams/a/image_raw)" in n)
    rear = next(v for n, v in statuses.items() if "rear (/rear/image_raw)" in n)
    assert front["camera"] == "front" and rear["camera"] == "rear"
    assert int(front["frames processed"]) > 0 and int(rear["frames processed"]) > 0


def test_colliding_camera_names_are_refused_at_start(node_launcher):
    proc = node_launcher({"model": "blob", "images": "['/a/front/image', '/a/front/image_raw']"},
                         factory="panoptic_test_blob_model:load", name="collide", wait=False)
    assert proc.wait(60) == 1, proc.log()[-2000:]
    assert "parameter images:" in proc.log() and "name them explicitly with NAME=TOPIC" in proc.log()
