"""~/semantic_color and ~/panoptic_color (issue 20 item 1): rgb8 images a viewer shows as they are, built only
when someone subscribes, with the input's header, in the colours of ~/labels (the model's class colours, or a
palette file's).

The node runs in this process (its own rclpy context, the stub model: box A left, box B right, floor in the
bottom quarter) so the test can count how often each colour output is built; the graph is real.
"""
import threading

import numpy as np
import pytest

pytest.importorskip("rclpy")
from conftest import image_msg  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from panoptic_ros.msg import PanopticInstanceArray, PanopticLabelArray  # noqa: E402
from panoptic_ros.ros import outputs, params  # noqa: E402
from panoptic_ros.visualization import instance_color  # noqa: E402

pytestmark = pytest.mark.ros
FLOOR = (1, 2, 3)             # the palette file's colour of the stub's stuff class "floor"
BOX = (200, 40, 40)           # the stub model's own colour of "box" (not in the palette: kept)
H, W = 48, 64


def start_node(ros_domain, extra_args):
    import rclpy
    from node_with_test_model import FactoryLoader
    from rclpy.executors import SingleThreadedExecutor

    from panoptic_ros.ros import node as node_module

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain)
    try:
        node = node_module.PanopticNode(
            context=context, model_loader=FactoryLoader("panoptic_test_stub_model:load"),
            cli_args=["--ros-args", "-r", "image:=/color/image_raw", "-p", "model:=stub", "-p",
                      "stuff_area_threshold:=0", *extra_args])
    except Exception:
        rclpy.try_shutdown(context=context)
        raise
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()

    def stop():
        node.shutdown()
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        spinner.join(5)
    return node, stop


@pytest.fixture
def builds(monkeypatch):
    """Calls of each colour output's build (the registered objects, wrapped)."""
    counts = {"semantic_color": 0, "panoptic_color": 0}
    for name in counts:
        out = outputs.OUTPUTS.get(name)
        original = out.build

        def counting(frame, kit=None, name=name, original=original):
            counts[name] += 1
            return original(frame, kit) if kit is not None else original(frame)
        monkeypatch.setattr(out, "build", counting, raising=False)
    return counts


def stamp_of(msg):
    return msg.header.stamp.sec, msg.header.stamp.nanosec


def test_colour_topics_on_demand_with_the_palette(ros_domain, ros_graph, builds, tmp_path):
    palette = tmp_path / "palette.yaml"
    palette.write_text("floor: [1, 2, 3]\nsky: [9, 9, 9]\n")        # sky: not a class of this model (warned)
    node, stop = start_node(ros_domain, ["-p", f"palette:={palette}"])
    try:
        pub = ros_graph.publisher(Image, "/color/image_raw")
        panoptic = ros_graph.collect(Image, "/panoptic_node/panoptic")
        instances = ros_graph.collect(PanopticInstanceArray, "/panoptic_node/instances")
        assert ros_graph.wait_for_subscriber(pub, 30)
        assert ros_graph.wait_for_publisher("/panoptic_node/panoptic", 30)
        ros_graph.spin_for(0.5)
        rgb = np.full((H, W, 3), 90, np.uint8)
        pub.publish(image_msg(rgb, "rgb8", stamp=(5, 1), frame_id="cam_a"))
        assert ros_graph.spin_until(lambda: any(stamp_of(m) == (5, 1) for _, m in instances), 30)
        ros_graph.spin_for(0.5)         # the frame's on-demand outputs come after ~/instances: all decided now
        assert builds == {"semantic_color": 0, "panoptic_color": 0}, "built without a subscriber"

        semantic = ros_graph.collect(Image, "/panoptic_node/semantic_color")
        colored = ros_graph.collect(Image, "/panoptic_node/panoptic_color")
        publishers = dict((out.name, p) for out, p in node.cameras[0].outputs)
        assert ros_graph.spin_until(lambda: publishers["semantic_color"].get_subscription_count() > 0
                                    and publishers["panoptic_color"].get_subscription_count() > 0, 30)
        pub.publish(image_msg(rgb, "rgb8", stamp=(5, 2), frame_id="cam_b"))
        assert ros_graph.spin_until(lambda: any(stamp_of(m) == (5, 2) for _, m in semantic)
                                    and any(stamp_of(m) == (5, 2) for _, m in colored), 30), "no colour images"
        assert builds == {"semantic_color": 1, "panoptic_color": 1}
        sem = next(m for _, m in semantic if stamp_of(m) == (5, 2))
        pan_color = next(m for _, m in colored if stamp_of(m) == (5, 2))
        labels = next(m for _, m in panoptic if stamp_of(m) == (5, 2))
        for msg in (sem, pan_color):
            assert (msg.encoding, msg.height, msg.width, msg.step, msg.header.frame_id) == ("rgb8", H, W, 3 * W,
                                                                                           "cam_b")
        sem_px = np.frombuffer(sem.data, np.uint8).reshape(H, W, 3)
        col_px = np.frombuffer(pan_color.data, np.uint8).reshape(H, W, 3)
        ids = np.frombuffer(labels.data, np.int32).reshape(H, W)
        assert tuple(sem_px[H - 1, 5]) == FLOOR and tuple(col_px[H - 1, 5]) == FLOOR   # stuff: palette colour
        assert tuple(sem_px[5, 5]) == BOX                                            # thing class colour
        for x in (5, W - 5):                                                         # box A, box B: id colours
            assert tuple(col_px[5, x]) == instance_color(BOX, int(ids[5, x]), True)
        assert tuple(col_px[5, 5]) != tuple(col_px[5, W - 5])

        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        got = []
        ros_graph.node.create_subscription(PanopticLabelArray, "/panoptic_node/labels", got.append,
                                           QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                                                      durability=DurabilityPolicy.TRANSIENT_LOCAL))
        assert ros_graph.spin_until(lambda: got, 30)
        floor = next(label for label in got[-1].labels if label.name == "floor")
        assert (floor.r, floor.g, floor.b) == FLOOR                  # ~/labels names the colours drawn
    finally:
        stop()


@pytest.mark.parametrize("text, reason", [
    ("floor: [1, 2]\n", "palette .*: class 'floor': expected \\[r, g, b\\] with integers 0-255, got \\[1, 2\\]"),
    ("- floor\n", "palette .*: expected a mapping"),
])
def test_bad_palette_file_is_a_one_line_start_up_error(ros_domain, tmp_path, text, reason):
    palette = tmp_path / "palette.yaml"
    palette.write_text(text)
    with pytest.raises(params.ParameterError, match="parameter " + reason):
        start_node(ros_domain, ["-p", f"palette:={palette}"])
