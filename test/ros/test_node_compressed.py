"""image_transport=compressed: the node subscribes <image>/compressed (JPEG and PNG), survives a corrupt JPEG."""
import array

import cv2
import numpy as np
import pytest

pytest.importorskip("rclpy")
from nodetools import NodeOutputs, check_consistent, next_stamp  # noqa: E402
from sensor_msgs.msg import CompressedImage  # noqa: E402

pytestmark = pytest.mark.ros
TOPIC = "/cam/image_raw/compressed"   # image remapped to /cam/image_raw, + /compressed as image_transport names it


@pytest.fixture(scope="module")
def node(node_launcher, tiny_checkpoint):
    return node_launcher({"model": str(tiny_checkpoint), "input_size": 64, "score_threshold": 0.0,
                          "stuff_area_threshold": 0, "image_transport": "compressed"})


@pytest.fixture(scope="module")
def setup(ros_graph, node):
    outputs = NodeOutputs(ros_graph)
    pub = ros_graph.publisher(CompressedImage, TOPIC, "reliable")
    assert ros_graph.wait_for_subscriber(pub, 60), "panoptic_node did not subscribe to " + TOPIC
    return outputs, pub


def compressed(rgb, ext, stamp, frame_id="cam"):
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    msg = CompressedImage(format="jpeg" if ext == ".jpg" else "png")
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = frame_id
    msg.data = array.array("B", buf.tobytes())
    return msg


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_compressed_frames_are_answered(ros_graph, setup, ext):
    outputs, pub = setup
    rgb = np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    stamp = next_stamp()
    pub.publish(compressed(rgb, ext, stamp, frame_id="jpeg_cam"))
    check_consistent(outputs.wait_for(stamp, 60), 480, 640, "jpeg_cam", num_classes=4)


def test_corrupt_jpeg_is_rejected_and_the_next_frame_answered(ros_graph, setup, node):
    outputs, pub = setup
    bad = CompressedImage(format="jpeg")
    bad.header.stamp.sec, bad.header.stamp.nanosec = next_stamp()
    bad.data = array.array("B", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    pub.publish(bad)
    ros_graph.spin_for(0.5)
    stamp = next_stamp()
    pub.publish(compressed(np.full((96, 128, 3), 90, np.uint8), ".jpg", stamp))
    check_consistent(outputs.wait_for(stamp, 60), 96, 128, "cam")
    assert int(outputs.latest_diagnostics()["frames rejected"]) >= 1
    assert "cannot decode compressed image" in node.log()
    assert node.proc.poll() is None
