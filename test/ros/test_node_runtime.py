"""panoptic_node on the inference pipeline's runtimes: started with runtime=onnxruntime it answers frames and
reports runtime and precision (log line and /diagnostics); changing runtime / precision at run time reloads the
model in the background and frames keep flowing; a combination that cannot run is refused at once with the
reason (the fast check of the parameter callback) and the old one stays.

The checkpoint is the tiny random model: exports (ONNX, OpenVINO) go to the session's temporary XDG cache
(conftest.export_cache) and are made once per session. Runtimes whose package is missing are skipped.
"""
import time

import numpy as np
import pytest

pytest.importorskip("rclpy")
from conftest import image_msg  # noqa: E402
from nodetools import NodeOutputs, check_consistent, next_stamp  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from panoptic_ros.registry import RUNTIMES  # noqa: E402

pytestmark = pytest.mark.ros
NODE = "/panoptic_node"
RELOAD_TIMEOUT = 120.0          # a reload may export the checkpoint first (seconds on 2 busy cores)


def need(runtime: str) -> None:
    reason = RUNTIMES.get(runtime).unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def node(node_launcher, tiny_checkpoint):
    need("onnxruntime")
    return node_launcher({"model": str(tiny_checkpoint), "runtime": "onnxruntime", "precision": "fp32",
                          "input_size": 64, "score_threshold": 0.0, "stuff_area_threshold": 0})


@pytest.fixture(scope="module")
def setup(ros_graph, node):
    outputs = NodeOutputs(ros_graph)
    pub = ros_graph.publisher(Image, "/cam/image_raw")
    assert ros_graph.wait_for_subscriber(pub, 60)
    return outputs, pub


def run_frame(setup):
    outputs, pub = setup
    stamp = next_stamp()
    rgb = np.random.default_rng(stamp[1]).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    pub.publish(image_msg(rgb, "rgb8", stamp=stamp))
    check_consistent(outputs.wait_for(stamp, 60), 96, 128, "camera", num_classes=4)


def runtime_in_diagnostics(setup) -> tuple[str, str]:
    diag = setup[0].latest_diagnostics(after=time.monotonic() + 0.1)
    return diag["runtime"], diag["precision"]


def test_started_on_onnxruntime_answers_frames(setup, node):
    run_frame(setup)
    assert "runtime onnxruntime, precision fp32" in node.log()
    assert runtime_in_diagnostics(setup) == ("onnxruntime", "fp32")


def test_precision_it_cannot_run_is_refused_and_the_old_model_stays(ros_graph, setup):
    result = ros_graph.set_parameters(NODE, {"precision": "bf16"}, timeout=RELOAD_TIMEOUT)[0]
    assert not result.successful
    assert "kept the current model" in result.reason and "onnxruntime" in result.reason
    assert ros_graph.get_parameters(NODE, ["precision"]) == {"precision": "fp32"}
    run_frame(setup)
    assert runtime_in_diagnostics(setup) == ("onnxruntime", "fp32")


@pytest.mark.parametrize("runtime", ["openvino", "torch"])
def test_runtime_change_reloads_and_frames_keep_flowing(ros_graph, setup, node, runtime):
    need(runtime)
    before = setup[0].latest_diagnostics()
    run_frame(setup)
    mark = node.mark()
    results = ros_graph.set_parameters(NODE, {"runtime": runtime}, timeout=RELOAD_TIMEOUT)
    assert results[0].successful, results[0].reason
    run_frame(setup)                                   # answered while the new runtime loads (or after)
    assert node.wait_for_log_since(mark, "loaded model", RELOAD_TIMEOUT), node.log(mark)
    for _ in range(2):
        run_frame(setup)
    assert runtime_in_diagnostics(setup) == (runtime, "fp32")
    assert f"runtime {runtime}, precision fp32" in node.log(mark), node.log(mark)
    after = setup[0].latest_diagnostics()
    assert int(after["inference errors"]) == int(before["inference errors"]) == 0
