"""3D instances from depth through a live graph (use_depth): synthetic depth whose answer is known, a missing
camera_info and a depth image of another aspect ratio (2D only, with a warning).

Scene (blob test model): a blob at rows 40..59, columns 100..119 of a 160x120 image; depth is a wall at 2 m with
the blob's pixels at 1 m; camera_info fx = fy = 100, cx = 79.5, cy = 59.5. The blob's centroid is therefore
x = (109.5 - 79.5) / 100 = 0.30 m, y = (49.5 - 59.5) / 100 = -0.10 m, z = 1.00 m.
"""
import numpy as np
import pytest

pytest.importorskip("rclpy")
from conftest import image_msg  # noqa: E402
from nodetools import NodeOutputs, check_consistent, next_stamp, stamp_of  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from panoptic_ros.msg import PanopticInstance3DArray  # noqa: E402
from panoptic_ros.ros.conversions import numpy_to_image_msg  # noqa: E402

pytestmark = pytest.mark.ros
NODE = "/panoptic_node"
H, W = 120, 160
RGB = np.zeros((H, W, 3), np.uint8)
RGB[40:60, 100:120, 0] = 255


def depth_image(stamp, encoding="32FC1", size=(H, W)):
    depth = np.full(size, 2.0, np.float32)
    sy, sx = size[0] / H, size[1] / W
    depth[int(40 * sy):int(60 * sy), int(100 * sx):int(120 * sx)] = 1.0
    depth[0, :10] = np.nan if encoding == "32FC1" else 0.0                 # holes are ignored
    pixels = depth if encoding == "32FC1" else (depth * 1000).astype(np.uint16)
    msg = numpy_to_image_msg(pixels, encoding)
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = "depth_optical"
    return msg


def camera_info(stamp=(0, 0)):
    msg = CameraInfo(width=W, height=H, k=[100.0, 0.0, 79.5, 0.0, 100.0, 59.5, 0.0, 0.0, 1.0])
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = "color_optical"
    return msg


@pytest.fixture(scope="module")
def node(node_launcher):
    return node_launcher({"model": "blob?delay=0.1", "stuff_area_threshold": 0, "use_depth": True},
                         remaps=["image:=/cam/image_raw", "depth:=/cam/depth", "camera_info:=/cam/camera_info"],
                         factory="panoptic_test_blob_model:load")


@pytest.fixture(scope="module")
def setup(ros_graph, node):
    outputs = NodeOutputs(ros_graph)
    found_3d = ros_graph.collect(PanopticInstance3DArray, f"{NODE}/instances_3d")
    pubs = {"image": ros_graph.publisher(Image, "/cam/image_raw"), "depth": ros_graph.publisher(Image, "/cam/depth"),
            "info": ros_graph.publisher(CameraInfo, "/cam/camera_info")}
    for pub in pubs.values():
        assert ros_graph.wait_for_subscriber(pub, 60)
    return outputs, found_3d, pubs


def run(ros_graph, setup, depth=None, info=False):
    """Publish (camera_info), (depth) and the image with one stamp; the 2D outputs and the 3D message (or None)."""
    outputs, found_3d, pubs = setup
    stamp = next_stamp()
    if info:
        pubs["info"].publish(camera_info(stamp))
    if depth is not None:
        pubs["depth"].publish(depth(stamp))
    ros_graph.spin_for(0.2)                     # lets the depth messages go out before the frame
    pubs["image"].publish(image_msg(RGB, "rgb8", stamp=stamp))
    out = outputs.wait_for(stamp, 30)
    check_consistent(out, H, W, "camera")
    ros_graph.spin_until(lambda: any(stamp_of(m) == stamp for _, m in found_3d), 3.0)
    return out, next((m for _, m in found_3d if stamp_of(m) == stamp), None)


def test_missing_camera_info_warns_and_publishes_2d_only(ros_graph, setup, node):
    since = node.mark()
    _, msg3d = run(ros_graph, setup, depth=depth_image)
    assert msg3d is None
    assert node.wait_for_log_since(since, "no camera_info received on /cam/camera_info: publishing 2D only", 10)


@pytest.mark.parametrize("encoding, size", [("32FC1", (H, W)), ("16UC1", (H // 2, W // 2))])
def test_box_centroid_from_depth(ros_graph, setup, encoding, size):
    out, msg3d = run(ros_graph, setup, depth=lambda stamp: depth_image(stamp, encoding, size), info=True)
    assert msg3d is not None, "no ~/instances_3d for the frame"
    assert msg3d.header.frame_id == "color_optical"
    blob = next(i for i in out["instances"].instances if i.is_thing)
    assert [i.id for i in msg3d.instances] == [blob.id]
    inst = msg3d.instances[0]
    assert inst.label == "blob" and inst.valid_points > 0
    tol = 0.01 if size == (H, W) else 0.02           # half-size depth: half the pixels, coarser back-projection
    assert abs(inst.centroid.z - 1.0) < 0.01
    assert abs(inst.centroid.x - 0.30) < tol and abs(inst.centroid.y + 0.10) < tol
    assert abs(inst.extent.x - 0.18) < 0.05 and inst.extent.z < 0.05


def test_depth_of_another_aspect_ratio_is_refused_with_a_warning(ros_graph, setup, node):
    since = node.mark()
    _, msg3d = run(ros_graph, setup, depth=lambda stamp: depth_image(stamp, "32FC1", (100, 100)), info=True)
    assert msg3d is None
    assert node.wait_for_log_since(since, "depth not used:", 10), node.log(since)[-2000:]
    assert "publishing 2D only" in node.log(since)
