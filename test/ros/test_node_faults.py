"""panoptic_node under faults, on a test model of fixed speed (panoptic_test_stub_model.py through the test
launcher; 0.1 s per frame whatever the machine): use_sim_time without /clock, predict() raising, frames above
max_input_pixels, a 30 Hz flood, a slow and a failing background model load, shutdown during a frame.

One node for the module, started with use_sim_time:=true and nobody publishing /clock (the timers must still
fire). The tests run in file order; the last one stops the node.
"""
import signal
import time

import numpy as np
import pytest

pytest.importorskip("rclpy")
from conftest import image_msg  # noqa: E402
from nodetools import NodeOutputs, check_consistent, next_stamp, stamp_of  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

pytestmark = pytest.mark.ros
NODE = "/panoptic_node"
TOPIC = "/cam/image_raw"
FAIL_WIDTH, SLOW_WIDTH = 13, 17           # the stub raises / takes 60 s on images this wide
MAX_PIXELS = 400_000                      # 640x480 passes, 800x600 does not
FIRST_MODEL = f"stub?predict_delay=0.1&fail_width={FAIL_WIDTH}&slow_width={SLOW_WIDTH}"
SECOND_MODEL = f"stub?predict_delay=0.1&slow_width={SLOW_WIDTH}&thing=crate&load_gate="   # + the gate file


@pytest.fixture(scope="module")
def node(node_launcher):
    return node_launcher({"model": FIRST_MODEL, "use_sim_time": True, "max_input_pixels": MAX_PIXELS,
                          "stuff_area_threshold": 0}, factory="panoptic_test_stub_model:load")


@pytest.fixture(scope="module")
def load_gate(tmp_path_factory):
    """The second model's load waits for this file: the test decides when the load may finish."""
    return tmp_path_factory.mktemp("load_gate") / "load_may_finish"


@pytest.fixture(scope="module")
def second_model(load_gate):
    return SECOND_MODEL + str(load_gate)


@pytest.fixture(scope="module")
def setup(ros_graph, node):
    outputs = NodeOutputs(ros_graph)
    pub = ros_graph.publisher(Image, TOPIC)
    assert ros_graph.wait_for_subscriber(pub, 60)
    return outputs, pub


def send(pub, height=48, width=64):
    stamp = next_stamp()
    pub.publish(image_msg(np.full((height, width, 3), 90, np.uint8), "rgb8", stamp=stamp))
    return stamp


def answer(setup, height=48, width=64, timeout=30.0):
    outputs, pub = setup
    stamp = send(pub, height, width)
    out = outputs.wait_for(stamp, timeout)
    check_consistent(out, height, width, "camera")
    return out


def counter(setup, name: str) -> int:
    return int(setup[0].latest_diagnostics(after=time.monotonic() + 0.05)[name])


def labels(out) -> set:
    return {i.label for i in out["instances"].instances}


def test_use_sim_time_without_clock_still_publishes_diagnostics_and_input_stamps(ros_graph, setup):
    assert ros_graph.node.count_publishers("/clock") == 0
    assert ros_graph.get_parameters(NODE, ["use_sim_time"]) == {"use_sim_time": True}
    assert setup[0].latest_diagnostics(timeout=10)          # timers on the ROS clock would never fire here
    out = answer(setup)
    assert {stamp_of(m) for m in out.values()} == {stamp_of(next(iter(out.values())))} != {(0, 0)}


def test_inference_failure_is_counted_logged_and_the_next_frame_answered(ros_graph, setup, node):
    mark = node.mark()
    before = counter(setup, "inference errors")
    bad = send(setup[1], 48, FAIL_WIDTH)
    ros_graph.spin_for(0.5)                                   # the input queue keeps 1: let it take this one
    answer(setup)
    assert setup[0].for_stamp(bad) == {}
    assert counter(setup, "inference errors") == before + 1
    assert (f"inference failed on a frame from {TOPIC}: RuntimeError: stub model refuses images {FAIL_WIDTH} "
            "pixels wide") in node.log(mark), node.log(mark)
    assert node.proc.poll() is None


def test_raw_frame_above_max_input_pixels_is_rejected_and_the_next_answered(ros_graph, setup, node):
    mark = node.mark()
    rejected, too_large = counter(setup, "frames rejected"), counter(setup, "frames too large")
    big = send(setup[1], 600, 800)
    ros_graph.spin_for(0.5)
    answer(setup, 480, 640)                                   # 307,200 pixels: under the limit
    assert setup[0].for_stamp(big) == {}
    assert counter(setup, "frames too large") == too_large + 1
    assert counter(setup, "frames rejected") == rejected + 1
    assert f"raw image of 800x600 = 480000 pixels exceeds max_input_pixels = {MAX_PIXELS}" in node.log(mark)


def queued_pairs(answered: list[int], sent_at: dict[int, float], model_time: float) -> list[tuple[int, int]]:
    """Pairs (a, a+1) answered one after the other although frame a+2 was sent before frame a could have been
    finished (sent_at[a] + model_time): keeping only the newest frame would have answered a+2 instead of a+1,
    so a+1 waited in a queue. Pairs after a sender stall are not evidence and are left out."""
    pairs = zip(answered, answered[1:])
    return [(a, b) for a, b in pairs if b == a + 1 and a + 2 in sent_at
            and sent_at[a + 2] - sent_at[a] < 0.8 * model_time]


def test_flood_at_30hz_keeps_only_the_newest_frame(ros_graph, setup, node):
    """The model takes 0.1 s per frame (fixed), so a 30 Hz flood must outrun it on any machine."""
    outputs, publisher = setup
    rgb = np.full((120, 160, 3), 70, np.uint8)
    before = outputs.latest_diagnostics()
    sent = {}
    period, count = 1 / 30, 60
    start = time.monotonic()
    for i in range(count):
        stamp = next_stamp()
        publisher.publish(image_msg(rgb, "rgb8", stamp=stamp))
        sent[stamp] = (i, time.monotonic())
        ros_graph.spin_until(lambda: False, max(0.0, start + (i + 1) * period - time.monotonic()))
    last = list(sent)[-1]
    outputs.wait_for(last, timeout=30)   # the newest frame is always processed
    ros_graph.spin_for(0.5)
    answered = sorted((t, sent[stamp_of(m)][0]) for t, m in outputs.received["panoptic"] if stamp_of(m) in sent)
    indices = [i for _, i in answered]
    assert indices == sorted(indices), "outputs came out of order"
    assert indices[-1] == count - 1
    # 2 s of flood at 0.1 s per frame: about 20 answered, never all 60
    assert len(answered) <= count // 2, f"{len(answered)} of {count} answered: frames were not dropped"
    sent_at = dict(sent.values())
    queued = queued_pairs(indices, sent_at, 0.1)
    assert not queued, f"answered {indices}: {queued} were answered in a row although a newer frame was waiting"
    diag = outputs.latest_diagnostics(after=time.monotonic() + 0.1)
    delta = {k: int(diag[f"frames {k}"]) - int(before[f"frames {k}"]) for k in ("received", "processed", "dropped")}
    assert len(answered) <= delta["received"] <= count
    assert delta["dropped"] > 0 and delta["processed"] + delta["dropped"] == delta["received"]


def test_slow_model_load_runs_in_the_background_and_frames_keep_flowing(ros_graph, setup, node, load_gate,
                                                                        second_model):
    """The new model's load cannot finish until the test creates its gate file, so the parameter call's answer
    and the old model's frames come while it loads on any machine (judged by order, not by elapsed time)."""
    mark = node.mark()
    result = ros_graph.set_parameters(NODE, {"model": second_model})[0]   # a load in the callback never answers
    assert result.successful, result.reason
    again = ros_graph.set_parameters(NODE, {"model": FIRST_MODEL})[0]
    assert not again.successful and "a model is still loading" in again.reason, again.reason
    during = [labels(answer(setup)) for _ in range(3)]        # the old model answers while the new one loads
    assert all(d == {"box", "floor"} for d in during), during
    assert "loaded model" not in node.log(mark), node.log(mark)
    load_gate.touch()
    assert node.wait_for_log_since(mark, "loaded model", 30), node.log(mark)
    assert labels(answer(setup)) == {"crate", "floor"}
    assert ros_graph.get_parameters(NODE, ["model"]) == {"model": second_model}
    assert node.wait_for_log_since(mark, "stub model closed (thing=box)", 10), "the replaced model was not closed"


def test_failed_background_load_keeps_the_model_and_sets_the_parameter_back(ros_graph, setup, node, second_model):
    mark = node.mark()
    failures = counter(setup, "model load failures")
    result = ros_graph.set_parameters(NODE, {"model": "stub?load_delay=0.5&load_error=1"})[0]
    assert result.successful, result.reason                   # accepted: the check passes, the load fails later
    assert node.wait_for_log_since(mark, "stub model: load failed on purpose", 30), node.log(mark)
    assert "parameters set back to model=" in node.log(mark)
    assert ros_graph.spin_until(lambda: ros_graph.get_parameters(NODE, ["model"]) == {"model": second_model}, 10)
    assert counter(setup, "model load failures") == failures + 1
    assert labels(answer(setup)) == {"crate", "floor"}


def test_shutdown_during_a_frame_abandons_it_and_exits_0(ros_graph, setup, node):
    outputs, pub = setup
    send(pub, 48, SLOW_WIDTH)                                 # predict() takes 60 s on this one
    ros_graph.spin_for(1.0)
    mark = node.mark()
    code = node.stop(signal.SIGINT, timeout=30)   # a node waiting for the 60 s frame is killed: code -9, not 0
    assert code == 0, node.log(mark)
    assert "a frame still in inference after 3.0 s was abandoned" in node.log(mark), node.log(mark)
    assert "Traceback" not in node.log()
