"""QoS mismatch: with qos_reliability=reliable a best-effort camera cannot match; the node says so (topic, both
QoS settings, the parameter to change) and its watchdog warns that publishers exist but no frame arrives.
Also: SIGTERM ends the node like SIGINT (exit 0, no traceback)."""
import signal

import pytest

pytest.importorskip("rclpy")
from sensor_msgs.msg import Image  # noqa: E402

pytestmark = pytest.mark.ros
TOPIC = "/cam/image_raw"


@pytest.fixture(scope="module")
def node(node_launcher, tiny_checkpoint):
    return node_launcher({"model": str(tiny_checkpoint), "input_size": 64, "qos_reliability": "reliable"})


def test_incompatible_publisher_and_silent_topic_are_reported(ros_graph, node):
    pub = ros_graph.publisher(Image, TOPIC, "best_effort")
    ok = ros_graph.spin_until(lambda: "QoS mismatch on /cam/image_raw" in node.log(), 30)
    log = node.log()
    assert ok, "no incompatible-QoS warning; node log:\n" + log[-2000:]
    line = next(x for x in log.splitlines() if "QoS mismatch on /cam/image_raw" in x)
    assert "WARN" in line
    assert "subscription: reliability=reliable" in line and "reliability=best_effort" in line
    assert "qos_reliability" in line and "best_effort" in line
    assert pub.get_subscription_count() == 0     # they really do not match
    # frames cannot arrive, so after a few seconds the watchdog speaks up
    ok = ros_graph.spin_until(lambda: "but no image for" in node.log(), 20)
    assert ok, "no 'publishers but no frames' warning; node log:\n" + node.log()[-2000:]
    ros_graph.node.destroy_publisher(pub)


def test_sigterm_exits_cleanly(node):
    assert node.stop(signal.SIGTERM, timeout=20) == 0
    assert "Traceback" not in node.log()
