"""Depth image / camera_info messages -> metres and intrinsics, and the 3D instances message."""
import array

import numpy as np
import pytest

pytest.importorskip("sensor_msgs")
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from panoptic_ros.data.categories import Category, CategoryMap  # noqa: E402
from panoptic_ros.geometry import segment_points, segments_3d  # noqa: E402
from panoptic_ros.ros import depth_conversions as dc  # noqa: E402

pytestmark = pytest.mark.ros
K = [500.0, 0.0, 319.5, 0.0, 500.0, 239.5, 0.0, 0.0, 1.0]


def depth_msg(pixels: np.ndarray, encoding: str, *, pad: int = 0, bigendian: bool = False) -> Image:
    h, w = pixels.shape
    data = pixels.astype(pixels.dtype.newbyteorder(">" if bigendian else "<")).view(np.uint8).reshape(h, -1)
    data = np.pad(data, ((0, 0), (0, pad)))
    msg = Image(height=h, width=w, encoding=encoding, is_bigendian=int(bigendian), step=data.shape[1])
    msg.data = array.array("B", data.tobytes())
    return msg


def info_msg(width=640, height=480, k=K) -> CameraInfo:
    return CameraInfo(width=width, height=height, k=k)


@pytest.mark.parametrize("bigendian", [False, True])
def test_millimetres_and_metres(bigendian):
    mm = np.array([[0, 1000], [1500, 65535]], np.uint16)
    np.testing.assert_allclose(dc.depth_msg_to_metres(depth_msg(mm, "16UC1", pad=4, bigendian=bigendian)),
                               [[0.0, 1.0], [1.5, 65.535]], rtol=1e-6)
    m = np.array([[np.nan, 0.25], [0.0, 7.5]], np.float32)
    out = dc.depth_msg_to_metres(depth_msg(m, "32FC1", bigendian=bigendian))
    assert out.dtype == np.float32 and np.isnan(out[0, 0]) and out[0, 1] == 0.25 and out[1, 1] == 7.5


def test_bad_depth_messages_say_why():
    with pytest.raises(dc.DepthConversionError, match="encoding 'rgb8' is not supported"):
        dc.depth_msg_to_metres(depth_msg(np.zeros((2, 2), np.uint16), "rgb8"))
    short = depth_msg(np.zeros((4, 4), np.uint16), "16UC1")
    short.data = short.data[:-2]
    with pytest.raises(dc.DepthConversionError, match="expected height \\* step"):
        dc.depth_msg_to_metres(short)
    with pytest.raises(dc.DepthConversionError, match="no image size"):
        dc.camera_info_to_intrinsics(info_msg(0, 0))
    with pytest.raises(dc.DepthConversionError, match="not calibrated"):
        dc.camera_info_to_intrinsics(info_msg(k=[0.0] * 9))


def test_sizes_scale_when_the_aspect_matches_else_a_clear_error():
    half = depth_msg(np.full((240, 320), 2000, np.uint16), "16UC1")
    depth, k = dc.prepare_depth(half, info_msg(), (640, 480))       # camera_info of the colour image
    assert depth.shape == (240, 320) and (k.width, k.height, k.fx, k.cx) == (320, 240, 250.0, 159.5)
    with pytest.raises(dc.DepthConversionError, match="different aspect ratios"):
        dc.prepare_depth(half, info_msg(), (640, 360))
    with pytest.raises(dc.DepthConversionError, match="camera_info"):
        dc.prepare_depth(half, info_msg(640, 360), (640, 480))


def test_instances_3d_message_from_a_plane_and_a_box():
    depth = np.full((480, 640), 2000, np.uint16)
    depth[200:280, 300:340] = 1000
    depth[0:10, 0:10] = 0
    labels = np.ones((480, 640), np.int32)
    labels[200:280, 300:340] = 2
    labels[0:10, 0:10] = 3
    d, k = dc.prepare_depth(depth_msg(depth, "16UC1"), info_msg(), (640, 480))
    result = segments_3d(d, k, labels, ids=[2, 3])
    cats = CategoryMap([Category(1, "wall", False), Category(7, "box", True)])
    segments = [{"id": 1, "category_id": 0}, {"id": 2, "category_id": 1}, {"id": 3, "category_id": 1}]
    msg = dc.instances_3d_msg(result, segments, cats)
    box, hole = msg.instances
    assert (box.id, box.label, box.class_index, box.category_id, box.valid_points, box.area) == (
        2, "box", 1, 7, 80 * 40, 80 * 40)                     # class index 1, the dataset's category id 7
    assert abs(box.centroid.z - 1.0) < 1e-6 and abs(box.centroid.x - (319.5 - 319.5) / 500) < 0.01
    assert box.extent.x == pytest.approx(0.9 * 39 / 500, rel=0.05) and box.extent.z == 0.0
    assert (hole.valid_points, hole.area, hole.centroid.z) == (0, 100, 0.0)       # no depth: zeros, 0 points
    with pytest.raises(ValueError, match="not among"):
        dc.instances_3d_msg(result, segments[:2], cats)


def test_instances_3d_message_for_rosbags():
    from panoptic_ros.ros.bag.writer import panoptic_typestore
    from panoptic_ros.ros.conversions import RosbagsMessages

    labels = np.zeros((4, 4), np.int32)
    labels[1:3, 1:3] = 5
    result = segments_3d(np.ones((4, 4), np.float32), dc.Intrinsics(4, 4, 1.5, 1.5, 4, 4), labels)
    msg = dc.instances_3d_msg(result, [{"id": 5, "category_id": 0}], CategoryMap([Category(1, "a", True)]),
                              kit=RosbagsMessages(panoptic_typestore()))
    assert msg.instances[0].valid_points == 4 and msg.instances[0].centroid.z == 1.0


def test_point_cloud_and_markers_for_rviz():
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import PointCloud2
    from std_msgs.msg import Header
    from visualization_msgs.msg import Marker

    depth = np.full((48, 64), 2.0, np.float32)
    depth[10:20, 30:40] = 1.0
    depth[10, 30] = 0.0
    labels = np.ones((48, 64), np.int32)
    labels[10:20, 30:40] = 4
    k = dc.Intrinsics(50.0, 50.0, 31.5, 23.5, 64, 48)
    points, ids = segment_points(depth, k, labels, ids=[4])
    msg = deserialize_message(serialize_message(dc.point_cloud_msg(points, ids, Header(frame_id="opt"))), PointCloud2)
    assert (msg.width, msg.point_step, [f.name for f in msg.fields]) == (99, 16, ["x", "y", "z", "id"])
    cloud = np.frombuffer(bytes(msg.data), dc._CLOUD_DTYPE)
    assert set(cloud["id"]) == {4} and np.allclose(cloud["z"], 1.0)
    np.testing.assert_allclose(cloud["x"], points[:, 0])
    with pytest.raises(ValueError, match="ids"):
        dc.point_cloud_msg(points, ids[:-1])

    cats = CategoryMap([Category(1, "wall", False, (10, 20, 30)), Category(2, "box", True, (255, 0, 0))])
    result = segments_3d(depth, k, labels, ids=[1, 4])
    result_empty = segments_3d(np.zeros_like(depth), k, labels, ids=[4])
    segs = [{"id": 1, "category_id": 0}, {"id": 4, "category_id": 1}]
    markers = dc.markers_msg(result, segs, cats, Header(frame_id="opt")).markers
    assert markers[0].action == Marker.DELETEALL and len(markers) == 5
    box = next(m for m in markers if m.ns == "panoptic" and m.id == 4)
    assert box.type == Marker.CUBE and box.color.r == 1.0 and box.pose.position.z == pytest.approx(1.0)
    assert box.scale.z == pytest.approx(0.02)                             # flat face: min_size
    assert len(dc.markers_msg(result_empty, segs, cats, Header()).markers) == 1   # no depth: nothing drawn
