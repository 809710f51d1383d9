"""Parameters changed while the node runs (ros2 param set): merge policy, thresholds, overlay settings, and
model/device reloads that are refused with a reason when they cannot load.

The node runs the test stub model (panoptic_test_stub_model.py, through the test launcher): a fixed
overlap scene fused by the real panoptic head with the node's settings, so each merge policy gives a known
split of the overlap: box A (left, score 0.9) keeps 384 / 320 / 336 columns of 640 under highest_confidence /
smallest_first / closest_center.
"""
import numpy as np
import pytest

pytest.importorskip("rclpy")
from conftest import image_msg  # noqa: E402
from nodetools import NodeOutputs, check_consistent, label_image, next_stamp  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

pytestmark = pytest.mark.ros
NODE = "/panoptic_node"
A_WIDTH = {"highest_confidence": 384, "smallest_first": 320, "closest_center": 336}
GRAY = np.full((480, 640, 3), 100, np.uint8)


@pytest.fixture(scope="module")
def node(node_launcher):
    # overlay_alpha:=1: an integer for a float parameter is accepted at start-up (stored as 1.0)
    return node_launcher({"model": "stub", "stuff_area_threshold": 0, "overlay_alpha": 1},
                         factory="panoptic_test_stub_model:load")


@pytest.fixture(scope="module")
def setup(ros_graph, node):
    outputs = NodeOutputs(ros_graph, overlay=True)
    pub = ros_graph.publisher(Image, "/cam/image_raw")
    assert ros_graph.wait_for_subscriber(pub, 60)
    return outputs, pub


def run_frame(setup, rgb=GRAY):
    outputs, pub = setup
    stamp = next_stamp()
    pub.publish(image_msg(rgb, "rgb8", stamp=stamp))
    out = outputs.wait_for(stamp, 60)
    check_consistent(out, rgb.shape[0], rgb.shape[1], "camera")
    return out


def box_a(out):
    return next(i for i in out["instances"].instances if i.is_thing and i.bbox.x_offset == 0)


def set_ok(graph, **values):
    results = graph.set_parameters(NODE, values)
    assert all(r.successful for r in results), [r.reason for r in results]


def test_default_policy_from_the_params_file(ros_graph, setup):
    assert ros_graph.get_parameters(NODE, ["merge_policy"]) == {"merge_policy": "closest_center"}
    assert box_a(run_frame(setup)).bbox.width == A_WIDTH["closest_center"]


@pytest.mark.parametrize("policy", ["highest_confidence", "smallest_first", "closest_center"])
def test_merge_policy_changes_the_output_at_run_time(ros_graph, setup, policy):
    set_ok(ros_graph, merge_policy=policy)
    out = run_frame(setup)
    a = box_a(out)
    assert a.bbox.width == A_WIDTH[policy]
    pan = label_image(out["panoptic"])
    assert pan[100, A_WIDTH[policy] - 1] == a.id and pan[100, A_WIDTH[policy]] != a.id


def test_score_threshold_at_run_time(ros_graph, setup):
    set_ok(ros_graph, score_threshold=0.7)   # drops box B (0.6)
    things = [i for i in run_frame(setup)["instances"].instances if i.is_thing]
    assert len(things) == 1 and things[0].bbox.width == 384   # A alone: its whole box
    set_ok(ros_graph, score_threshold=0.4)
    assert sum(i.is_thing for i in run_frame(setup)["instances"].instances) == 2


@pytest.mark.parametrize("name, value, reason", [
    ("merge_policy", "biggest", "not one of"),
    ("score_threshold", 1.5, "score_threshold out of range"),   # rclpy's range check
    ("overlay_alpha", -0.1, "overlay_alpha out of range"),
    # the type is judged by the schema with the start-up's reason (test_node_startup.py), not rclpy's
    ("input_size", "large", "parameter input_size: expected an integer, got 'large' (str), e.g. input_size: 0"),
    ("score_threshold", "high", "parameter score_threshold: expected a number, got 'high' (str), e.g. "
                                "score_threshold: 0.4"),
    ("publish_overlay", 1, "parameter publish_overlay: expected true or false, got 1 (int)"),
    ("overlay_alpha", 2, "overlay_alpha"),                # an integer is a number: then the range check
    ("qos_depth", 3, "read-only"),
    ("image_transport", "compressed", "read-only"),
])
def test_bad_values_are_rejected_with_a_reason_and_the_old_value_stays(ros_graph, setup, name, value, reason):
    old = ros_graph.get_parameters(NODE, [name])[name]
    result = ros_graph.set_parameters(NODE, {name: value})[0]
    assert not result.successful and reason, result.reason
    assert reason in result.reason, result.reason
    assert ros_graph.get_parameters(NODE, [name])[name] == old
    run_frame(setup)   # still answering


def test_an_integer_for_a_float_parameter_is_accepted(ros_graph, setup):
    """ros2 param set /panoptic_node overlay_alpha 1 (an INTEGER parameter value) works, as 1 in the params file
    or on the command line does (the node was started with overlay_alpha:=1)."""
    started = ros_graph.get_parameters(NODE, ["overlay_alpha"])["overlay_alpha"]
    assert started == 1.0 and isinstance(started, float)
    set_ok(ros_graph, overlay_alpha=0)                   # an int, as `ros2 param set ... overlay_alpha 0` sends
    assert ros_graph.get_parameters(NODE, ["overlay_alpha"])["overlay_alpha"] == 0.0
    pixels = np.frombuffer(run_frame(setup)["overlay"].data, np.uint8).reshape(480, 640, 3)
    assert tuple(pixels[200, 100]) == (100, 100, 100)    # alpha 0 applied: untinted
    set_ok(ros_graph, overlay_alpha=0.5)


def test_overlay_alpha_at_run_time(ros_graph, setup):
    set_ok(ros_graph, overlay_alpha=0.0)
    overlay = run_frame(setup)["overlay"]
    pixels = np.frombuffer(overlay.data, np.uint8).reshape(480, 640, 3)
    assert (overlay.encoding, overlay.height, overlay.width) == ("bgr8", 480, 640)
    assert tuple(pixels[200, 100]) == (100, 100, 100)      # untinted interior of box A
    set_ok(ros_graph, overlay_alpha=1.0)
    pixels = np.frombuffer(run_frame(setup)["overlay"].data, np.uint8).reshape(480, 640, 3)
    assert tuple(pixels[200, 100]) != (100, 100, 100)
    set_ok(ros_graph, overlay_alpha=0.5)


def test_merge_policy_the_model_cannot_run_is_refused(ros_graph, setup, node):
    mark = node.mark()
    set_ok(ros_graph, model="stub?lacks=smallest_first")
    assert node.wait_for_log_since(mark, "loaded model", 30), node.log(mark)
    result = ros_graph.set_parameters(NODE, {"merge_policy": "smallest_first"})[0]
    assert not result.successful and "needs the test head" in result.reason, result.reason
    assert ros_graph.get_parameters(NODE, ["merge_policy"]) == {"merge_policy": "closest_center"}
    # a new model that lacks the current policy's head: not switched to, parameters set back
    mark = node.mark()
    set_ok(ros_graph, model="stub?lacks=closest_center")
    assert node.wait_for_log_since(mark, "parameters set back to model='stub?lacks=smallest_first'", 30), node.log(mark)
    assert ros_graph.spin_until(
        lambda: ros_graph.get_parameters(NODE, ["model"]) == {"model": "stub?lacks=smallest_first"}, 10)
    assert box_a(run_frame(setup)).bbox.width == A_WIDTH["closest_center"]
    mark = node.mark()
    set_ok(ros_graph, model="stub")
    assert node.wait_for_log_since(mark, "loaded model", 30), node.log(mark)


def test_model_reload_refused_keeps_the_old_model_then_accepted(ros_graph, setup, node, tiny_checkpoint):
    result = ros_graph.set_parameters(NODE, {"model": "/nonexistent/model.safetensors"})[0]
    assert not result.successful and "kept the current model" in result.reason and "not found" in result.reason
    assert ros_graph.get_parameters(NODE, ["model"]) == {"model": "stub"}
    assert {i.label for i in run_frame(setup)["instances"].instances} == {"box", "floor"}   # still the stub

    result = ros_graph.set_parameters(NODE, {"device": "cuda:7"})[0]
    assert not result.successful and "cuda" in result.reason
    assert ros_graph.get_parameters(NODE, ["device"]) == {"device": "auto"}

    mark = node.mark()
    set_ok(ros_graph, model=str(tiny_checkpoint), input_size=64)   # answered at once, loaded in the background
    assert node.wait_for_log_since(mark, "loaded model", 60), node.log(mark)
    labels = {i.label for i in run_frame(setup)["instances"].instances}
    assert labels and labels <= {"person", "car", "road", "sky"}   # the checkpoint's categories now
