"""The managed node (panoptic_lifecycle_node) through its lifecycle services: configure loads the model and
latches ~/labels without subscribing, activate subscribes and publishes, deactivate unsubscribes and keeps the
model, cleanup frees it, a model that does not load fails configure (the node stays unconfigured).

The node runs the stub test model (panoptic_test_stub_model.py; it prints "stub model closed" when freed).
"""
import numpy as np
import pytest

pytest.importorskip("rclpy")
from conftest import image_msg  # noqa: E402
from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from nodetools import NodeOutputs, check_consistent, next_stamp  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

pytestmark = pytest.mark.ros
NODE = "/panoptic_node"
GRAY = np.full((48, 64, 3), 100, np.uint8)


def change(graph, transition: int, node=NODE) -> bool:
    request = ChangeState.Request(transition=Transition(id=transition))
    return graph._call(ChangeState, f"{node}/change_state", request, 60).success


def state(graph, node=NODE) -> str:
    return graph._call(GetState, f"{node}/get_state", GetState.Request(), 30).current_state.label


@pytest.fixture(scope="module")
def node(node_launcher):
    return node_launcher({"model": "stub", "stuff_area_threshold": 0}, factory="panoptic_test_stub_model:load",
                         lifecycle=True)


def subscribers(graph) -> int:
    return graph.node.count_subscribers("/cam/image_raw")


def test_transitions(ros_graph, node):
    from panoptic_ros.msg import PanopticLabelArray
    from panoptic_ros.ros.labels import labels_qos

    labels = []
    ros_graph.node.create_subscription(PanopticLabelArray, f"{NODE}/labels", labels.append, labels_qos())
    outputs = NodeOutputs(ros_graph)
    pub = ros_graph.publisher(Image, "/cam/image_raw")
    assert state(ros_graph) == "unconfigured"

    assert change(ros_graph, Transition.TRANSITION_CONFIGURE)
    assert state(ros_graph) == "inactive"
    assert ros_graph.spin_until(lambda: labels, 30), "~/labels not latched at configure"
    assert [la.name for la in labels[-1].labels] == ["box", "floor"]
    ros_graph.spin_for(0.5)
    assert subscribers(ros_graph) == 0, "an inactive node must not subscribe its input"

    for _ in range(2):                                 # activate, deactivate, activate again (model kept)
        assert change(ros_graph, Transition.TRANSITION_ACTIVATE)
        assert ros_graph.wait_for_subscriber(pub, 30)
        stamp = next_stamp()
        pub.publish(image_msg(GRAY, "rgb8", stamp=stamp))
        check_consistent(outputs.wait_for(stamp, 30), 48, 64, "camera")
        assert change(ros_graph, Transition.TRANSITION_DEACTIVATE)
        assert ros_graph.spin_until(lambda: subscribers(ros_graph) == 0, 10)
        assert "stub model closed" not in node.log()

    since = node.mark()
    assert change(ros_graph, Transition.TRANSITION_CLEANUP)
    assert state(ros_graph) == "unconfigured"
    assert node.wait_for_log_since(since, "stub model closed", 10), node.log(since)[-2000:]
    assert change(ros_graph, Transition.TRANSITION_CONFIGURE)          # configure again after cleanup
    assert state(ros_graph) == "inactive"


def test_configure_fails_when_the_model_does_not_load(ros_graph, node_launcher):
    proc = node_launcher({"model": "stub?load_error=1"}, factory="panoptic_test_stub_model:load", lifecycle=True,
                         name="broken")
    assert not change(ros_graph, Transition.TRANSITION_CONFIGURE, "/broken")
    assert state(ros_graph, "/broken") == "unconfigured"
    assert proc.wait_for_log("configure failed, staying unconfigured", 10)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_cleanup_frees_the_model(ros_domain, tiny_checkpoint, device):
    """In-process: configure loads the real pipeline (torch runtime), cleanup drops every reference to it (and on
    CUDA gives the memory back: torch.cuda.memory_allocated() returns to its value before configure)."""
    import gc
    import weakref

    import rclpy
    import torch
    from rclpy.parameter import Parameter

    from panoptic_ros.ros.node.lifecycle import PanopticLifecycleNode

    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain)
    try:
        node = PanopticLifecycleNode(context=context, parameter_overrides=[
            Parameter("model", value=str(tiny_checkpoint)), Parameter("device", value=device),
            Parameter("runtime", value="torch"), Parameter("precision", value="fp32")])
        before = torch.cuda.memory_allocated() if device == "cuda" else 0
        assert node.trigger_configure() == rclpy.lifecycle.TransitionCallbackReturn.SUCCESS
        model = weakref.ref(node._settings.model)
        if device == "cuda":
            assert torch.cuda.memory_allocated() > before
        assert node.trigger_cleanup() == rclpy.lifecycle.TransitionCallbackReturn.SUCCESS
        gc.collect()
        assert model() is None, "the model is still referenced after cleanup"
        if device == "cuda":
            assert torch.cuda.memory_allocated() == before
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
