"""Helpers of the node tests (imported by test_node_*.py): output collection by stamp and consistency checks."""
from __future__ import annotations

import itertools
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Image

from panoptic_ros.msg import PanopticInstanceArray
from panoptic_ros.ros.diagnostics import diagnostic_values

_STAMPS = itertools.count(1)
OUTPUTS = {"panoptic": Image, "semantic": Image, "instances": PanopticInstanceArray}


def next_stamp() -> tuple[int, int]:
    """A stamp no other frame of this test session uses."""
    n = next(_STAMPS)
    return 1000 + n, n * 1000


def stamp_of(msg) -> tuple[int, int]:
    return msg.header.stamp.sec, msg.header.stamp.nanosec


class NodeOutputs:
    """Collects panoptic_node's outputs (and /diagnostics) by input stamp."""

    def __init__(self, graph, node_fqn: str = "/panoptic_node", overlay: bool = False):
        self.graph = graph
        self.topics = dict(OUTPUTS, **({"overlay": Image} if overlay else {}))
        self.received = {name: graph.collect(t, f"{node_fqn}/{name}") for name, t in self.topics.items()}
        self.diagnostics = graph.collect(DiagnosticArray, "/diagnostics")
        self.node_name = node_fqn.strip("/").split("/")[-1]

    def for_stamp(self, stamp) -> dict:
        return {name: msg for name, msgs in self.received.items() for _, msg in msgs if stamp_of(msg) == stamp}

    def wait_for(self, stamp, timeout: float = 30.0) -> dict:
        """All outputs of the frame with this stamp (AssertionError naming the missing ones on timeout)."""
        self.graph.spin_until(lambda: len(self.for_stamp(stamp)) == len(self.topics), timeout)
        found = self.for_stamp(stamp)
        missing = sorted(set(self.topics) - set(found))
        assert not missing, f"no {', '.join(missing)} output for stamp {stamp} within {timeout} s"
        return found

    def latest_diagnostics(self, after: float | None = None, timeout: float = 10.0) -> dict:
        """Values of this node's newest /diagnostics status (received after time.monotonic() `after`)."""
        after = time.monotonic() if after is None else after

        def mine():
            for t, array in reversed(self.diagnostics):
                for status in array.status:
                    if t >= after and status.name.startswith(self.node_name + ":"):
                        return diagnostic_values(status)
            return None
        self.graph.spin_until(lambda: mine() is not None, timeout)
        values = mine()
        assert values is not None, f"no /diagnostics from {self.node_name} within {timeout} s"
        return values


def label_image(msg) -> np.ndarray:
    assert msg.encoding == "32SC1" and msg.step == 4 * msg.width
    return np.frombuffer(msg.data, np.int32).reshape(msg.height, msg.width)


def check_consistent(outputs: dict, height: int, width: int, frame_id: str, num_classes: int = 255) -> np.ndarray:
    """Label ids = instance ids, each instance's area / tight bbox from its pixels, semantic = its class."""
    pan = label_image(outputs["panoptic"])
    assert pan.shape == (height, width)
    inst = outputs["instances"]
    assert (inst.height, inst.width) == (height, width)
    for msg in outputs.values():
        assert msg.header.frame_id == frame_id
    ids = set(np.unique(pan).tolist()) - {0}
    assert ids == {i.id for i in inst.instances}, "label image ids differ from the instance list"
    sem_msg = outputs["semantic"]
    assert sem_msg.encoding == "mono8" and (sem_msg.height, sem_msg.width) == (height, width)
    sem = np.frombuffer(sem_msg.data, np.uint8).reshape(height, width)
    assert (sem[pan == 0] == 255).all()
    for i in inst.instances:
        ys, xs = np.nonzero(pan == i.id)
        assert i.area == len(xs), f"instance {i.id}: area {i.area} != {len(xs)} pixels"
        assert (i.bbox.x_offset, i.bbox.y_offset, i.bbox.width, i.bbox.height) == \
            (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1), f"instance {i.id}: bbox"
        assert (sem[pan == i.id] == i.class_index).all()
        assert i.class_index < num_classes and i.label
    return pan
