"""Writing the node's outputs into a rosbag2 bag (mcap by default) with the rosbags library.

The output bag carries the same topics the live node publishes (every entry of outputs.OUTPUTS:
``<node>/panoptic``, ``<node>/semantic``, ``<node>/instances``, ``<node>/overlay``), built by the same
builders as the node's messages (outputs.py, with rosbags message classes), each stamped with its input's
header and logged at the input's bag time, so it replays in rviz / Foxglove next to the camera. The package's
own message types are registered from msg/*.msg so the bag embeds their definitions and other tools can
decode them.
"""
from __future__ import annotations

import os
from pathlib import Path

from .. import outputs as node_outputs
from ..conversions import RosbagsMessages
from .reader import BagError, typestore

DEFAULT_NAMESPACE = "/panoptic_node"


def find_msg_dir() -> Path:
    """Folder holding PanopticInstance.msg: the source tree's msg/, else the installed share/panoptic_ros/msg."""
    candidates = [Path(__file__).resolve().parents[3] / "msg"]
    try:
        from ament_index_python.packages import get_package_share_directory
        candidates.append(Path(get_package_share_directory("panoptic_ros")) / "msg")
    except Exception:  # no ament index (pip-only install) or package not installed
        pass
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            candidates.append(Path(prefix) / "share" / "panoptic_ros" / "msg")
    for cand in candidates:
        if (cand / "PanopticInstance.msg").is_file():
            return cand
    raise FileNotFoundError("cannot find the panoptic_ros message definitions (msg/PanopticInstance.msg); "
                            f"looked in {', '.join(map(str, candidates))}")


def panoptic_typestore():
    """A rosbags type store that also knows panoptic_ros/msg/* (from the .msg files)."""
    from rosbags.typesys import get_types_from_msg

    store = typestore()
    types = {}
    for path in sorted(find_msg_dir().glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(), f"panoptic_ros/msg/{path.stem}"))
    store.register(types)
    return store


class BagWriter:
    """A rosbag2 writer for a fixed set of topics; messages are rosbags objects or raw CDR bytes."""

    def __init__(self, path: str | Path, topics: dict[str, str], *, storage: str = "mcap", store=None):
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"output bag {self.path} exists already; remove it or choose another --out")
        plugin = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}.get(storage)
        if plugin is None:
            raise ValueError(f"unknown bag storage {storage!r} (mcap or sqlite3)")
        self.store = store if store is not None else panoptic_typestore()
        self.topics = dict(topics)
        self._writer = Writer(self.path, version=8, storage_plugin=plugin)
        self._conns: dict[str, object] = {}
        self.counts = {t: 0 for t in self.topics}

    def open(self) -> BagWriter:
        from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

        self._writer.open()
        never = QosTime(sec=0, nsec=0)
        # recorded as reliable / volatile keep-last, what the node's publishers offer
        qos = Qos(history=QosHistory.KEEP_LAST, depth=10, reliability=QosReliability.RELIABLE,
                  durability=QosDurability.VOLATILE, deadline=never, lifespan=never,
                  liveliness=QosLiveliness.AUTOMATIC, liveliness_lease_duration=never,
                  avoid_ros_namespace_conventions=False)
        for topic, msgtype in self.topics.items():
            self._conns[topic] = self._writer.add_connection(topic, msgtype, typestore=self.store,
                                                             offered_qos_profiles=[qos])
        return self

    def write(self, topic: str, log_time_ns: int, msg) -> None:
        """Write a rosbags message object (serialized here) or raw CDR bytes."""
        data = msg if isinstance(msg, (bytes, bytearray, memoryview)) else \
            self.store.serialize_cdr(msg, self.topics[topic])
        self._writer.write(self._conns[topic], int(log_time_ns), data)
        self.counts[topic] += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> BagWriter:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()


def find_bag_file(path: Path) -> Path:
    """The storage file inside a rosbag2 directory (what Foxglove opens)."""
    files = sorted(list(path.glob("*.mcap")) + list(path.glob("*.db3")))
    return files[0] if files else path


class OutputBagWriter(BagWriter):
    """Writes one frame's outputs as the node would publish them (same builders), with the input's header.

    Every registered output is written except the names in ``exclude``; on-demand ones (overlay) too, as a
    subscriber would get them."""

    def __init__(self, path: str | Path, *, namespace: str = DEFAULT_NAMESPACE, exclude=(), storage: str = "mcap"):
        self.outputs = node_outputs.select(exclude)
        self.names = node_outputs.topics(namespace, self.outputs)     # output name -> topic
        super().__init__(path, {self.names[o.name]: o.msgtype for o in self.outputs}, storage=storage)
        self.kit = RosbagsMessages(self.store)

    def build_frame(self, frame: node_outputs.OutputFrame) -> dict:
        """Output name -> rosbags message for one frame (outputs that build nothing are left out)."""
        built = {o.name: o.build(frame, self.kit) for o in self.outputs}
        return {name: msg for name, msg in built.items() if msg is not None}

    def write_frame(self, messages: dict, log_time_ns: int) -> None:
        """Write the messages of build_frame at the input's bag time."""
        for name, msg in messages.items():
            self.write(self.names[name], log_time_ns, msg)
