"""image_transport=compressed: the node subscribes <image>/compressed (JPEG and PNG), survives a corrupt JPEG and
refuses, without decoding it, a 60 kB PNG of 8000x8000 pixels (max_input_pixels; decoded it would take ~400 MB)."""
import array
import struct
import time
import zlib

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


def peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) of a process, MB."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def black_png(height: int, width: int) -> bytes:
    """A valid 8-bit gray PNG of height x width zeros, written chunk by chunk (tiny: zeros compress ~1000:1)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    deflate, rows = zlib.compressobj(6), bytes(width + 1) * 500     # each row: filter byte 0 + pixels
    idat = b"".join(deflate.compress(rows) for _ in range(height // 500)) + deflate.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def test_png_of_a_huge_size_is_refused_before_decoding(ros_graph, setup, node):
    outputs, pub = setup
    mark = node.mark()
    too_large = int(outputs.latest_diagnostics()["frames too large"])
    peak = peak_rss_mb(node.proc.pid)
    bad = CompressedImage(format="png")
    bad.header.stamp.sec, bad.header.stamp.nanosec = next_stamp()
    bad.data = array.array("B", black_png(8000, 8000))          # 192 MB of BGR pixels once decoded
    pub.publish(bad)
    ros_graph.spin_for(0.5)
    stamp = next_stamp()
    pub.publish(compressed(np.full((96, 128, 3), 90, np.uint8), ".png", stamp))
    check_consistent(outputs.wait_for(stamp, 60), 96, 128, "cam")
    assert int(outputs.latest_diagnostics(after=time.monotonic() + 0.1)["frames too large"]) == too_large + 1
    assert "8000x8000 = 64000000 pixels exceeds max_input_pixels = 16777216" in node.log(mark), node.log(mark)
    assert peak_rss_mb(node.proc.pid) - peak < 100, "the node's peak memory grew: the huge PNG was decoded"


def test_corrupt_jpeg_is_rejected_and_the_next_frame_answered(ros_graph, setup, node):
    outputs, pub = setup
    mark = node.mark()
    bad = CompressedImage(format="jpeg")
    bad.header.stamp.sec, bad.header.stamp.nanosec = next_stamp()
    bad.data = array.array("B", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    pub.publish(bad)
    ros_graph.spin_for(0.5)
    stamp = next_stamp()
    pub.publish(compressed(np.full((96, 128, 3), 90, np.uint8), ".jpg", stamp))
    check_consistent(outputs.wait_for(stamp, 60), 96, 128, "cam")
    assert int(outputs.latest_diagnostics()["frames rejected"]) >= 1
    assert "cannot decode compressed image of 1028 bytes (format 'jpeg')" in node.log(mark), node.log(mark)
    assert node.proc.poll() is None
