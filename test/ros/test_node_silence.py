"""Diagnostics that do not cry wolf (issue 20 item 5): a camera slower than the diagnostics period (0.5 Hz here)
keeps the node's /diagnostics OK between its frames (it warned "1 publisher(s) but no frames received" while
showing "frames received = 4"); when the camera then pauses for several of its own intervals, the status and
the watchdog say so, blaming the pause, not Fast DDS shared memory.
"""
import time

import numpy as np
import pytest

pytest.importorskip("rclpy")
from conftest import image_msg  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from panoptic_ros.ros.diagnostics import diagnostic_values  # noqa: E402

pytestmark = pytest.mark.ros
NAME, TOPIC, PERIOD = "slow_cam_node", "/slow/image_raw", 2.0


def test_slow_camera_is_not_silent_and_a_pause_is_named(ros_graph, node_launcher):
    node = node_launcher({"model": "stub", "stuff_area_threshold": 0}, name=NAME, remaps=[f"image:={TOPIC}"],
                         factory="panoptic_test_stub_model:load")
    received = ros_graph.collect(DiagnosticArray, "/diagnostics")

    def statuses(since):
        return [(t, s) for t, a in received for s in a.status if t >= since and s.name.startswith(NAME + ":")]
    pub = ros_graph.publisher(Image, TOPIC)
    assert ros_graph.wait_for_subscriber(pub, 60)
    rgb = np.full((48, 64, 3), 90, np.uint8)
    for k in range(5):                                  # 0.5 Hz for 8 s: 8 diagnostics periods
        pub.publish(image_msg(rgb, "rgb8", stamp=(4000 + k, 0)))
        ros_graph.spin_for(PERIOD)
    first = next(t for t, s in statuses(0.0) if int(diagnostic_values(s)["frames received"]) >= 1)
    during = [(s.level, s.message) for t, s in statuses(first)]
    assert len(during) >= 5 and all(level == b"\x00" for level, _ in during), during
    assert {message for _, message in during} == {"running"}
    # the camera pauses (its publisher stays): after max(5 s, 4 of its 2 s intervals) the node says so
    paused_at = time.monotonic()
    ok = ros_graph.spin_until(lambda: any(s.level == b"\x01" for _, s in statuses(paused_at)), 20)
    warned = [(time.monotonic() - paused_at, s.message) for t, s in statuses(paused_at) if s.level == b"\x01"]
    assert ok and "no frame for" in warned[0][1] and "usual interval: 2.0" in warned[0][1], warned
    assert node.wait_for_log("but no image for", 10), node.log()[-2000:]
    line = next(x for x in node.log().splitlines() if "but no image for" in x)
    assert "the publisher paused or stopped sending" in line and "shared-memory" not in line, line
