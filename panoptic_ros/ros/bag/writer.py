"""Writing the node's outputs into a rosbag2 bag (mcap by default) with the rosbags library.

The output bag carries the same topics the live node publishes (``<node>/panoptic``, ``<node>/semantic``,
``<node>/instances``, ``<node>/overlay``), each message stamped with its input's header and logged at the
input's bag time, so it replays in rviz / Foxglove next to the camera. The package's own message types are
registered from msg/*.msg so the bag embeds their definitions and other tools can decode them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .reader import BagError, typestore

INSTANCE = "panoptic_ros/msg/PanopticInstance"
INSTANCE_ARRAY = "panoptic_ros/msg/PanopticInstanceArray"
IMAGE = "sensor_msgs/msg/Image"
DEFAULT_NAMESPACE = "/panoptic_node"
OUTPUT_TOPICS = {"panoptic": IMAGE, "semantic": IMAGE, "instances": INSTANCE_ARRAY, "overlay": IMAGE}


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


def output_topics(namespace: str = DEFAULT_NAMESPACE) -> dict[str, str]:
    """Output name ('panoptic', ...) -> full topic name under the node's namespace."""
    ns = "/" + namespace.strip("/") if namespace.strip("/") else ""
    return {name: f"{ns}/{name}" for name in OUTPUT_TOPICS}


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

    def open(self) -> "BagWriter":
        from rosbags.interfaces import Qos, QosDurability, QosHistory, QosReliability, QosLiveliness, QosTime

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

    def __enter__(self) -> "BagWriter":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()


def find_bag_file(path: Path) -> Path:
    """The storage file inside a rosbag2 directory (what Foxglove opens)."""
    files = sorted(list(path.glob("*.mcap")) + list(path.glob("*.db3")))
    return files[0] if files else path


class OutputBagWriter(BagWriter):
    """Writes one frame's panoptic outputs as the node would publish them, with the input's header."""

    def __init__(self, path: str | Path, *, namespace: str = DEFAULT_NAMESPACE, overlay: bool = True,
                 storage: str = "mcap"):
        self.names = output_topics(namespace)
        if not overlay:
            self.names.pop("overlay")
        super().__init__(path, {topic: OUTPUT_TOPICS[name] for name, topic in self.names.items()}, storage=storage)
        T = self.store.types
        self._Image, self._Array, self._Instance = T[IMAGE], T[INSTANCE_ARRAY], T[INSTANCE]
        self._Roi, self._Point = T["sensor_msgs/msg/RegionOfInterest"], T["geometry_msgs/msg/Point"]

    def image_msg(self, header, array: np.ndarray, encoding: str):
        array = np.ascontiguousarray(array)
        h, w = array.shape[:2]
        return self._Image(header=header, height=h, width=w, encoding=encoding, is_bigendian=0,
                           step=int(array.strides[0]), data=array.reshape(-1).view(np.uint8))

    def instances_msg(self, header, height: int, width: int, instances: list[dict]):
        items = []
        for inst in instances:
            x, y, w, h = (int(v) for v in inst["bbox"])
            cx, cy = inst["centroid"]
            items.append(self._Instance(
                id=int(inst["id"]), category_id=int(inst["category_id"]), label=str(inst["label"]),
                is_thing=bool(inst["is_thing"]), score=float(inst["score"]), area=int(inst["area"]),
                bbox=self._Roi(x_offset=x, y_offset=y, height=h, width=w, do_rectify=False),
                centroid=self._Point(x=float(cx), y=float(cy), z=0.0)))
        return self._Array(header=header, height=height, width=width, instances=items)

    def write_frame(self, header, log_time_ns: int, *, panoptic: np.ndarray, semantic: np.ndarray,
                    instances: list[dict], overlay_bgr: np.ndarray | None = None) -> None:
        """panoptic int32 HxW; semantic uint8 (mono8) or uint16 (16UC1) HxW; instances: dicts with the
        PanopticInstance fields (bbox = x, y, w, h; centroid = x, y); overlay_bgr uint8 HxWx3."""
        h, w = panoptic.shape
        self.write(self.names["panoptic"], log_time_ns, self.image_msg(header, panoptic.astype(np.int32), "32SC1"))
        enc = "mono8" if semantic.dtype == np.uint8 else "16UC1"
        self.write(self.names["semantic"], log_time_ns, self.image_msg(header, semantic, enc))
        self.write(self.names["instances"], log_time_ns, self.instances_msg(header, h, w, instances))
        if overlay_bgr is not None and "overlay" in self.names:
            self.write(self.names["overlay"], log_time_ns, self.image_msg(header, overlay_bgr, "bgr8"))


@dataclass
class FrameOutputs:
    """What the node publishes for one frame, as arrays: the label image, the class image, the instance
    list (dicts with the PanopticInstance fields) and the overlay (None when not rendered)."""
    panoptic: np.ndarray          # int32 HxW segment ids
    semantic: np.ndarray          # uint8 (or uint16) HxW class index, 255 (65535) = unknown
    instances: list
    overlay_rgb: np.ndarray | None


def frame_outputs(result, categories, image_rgb: np.ndarray | None = None,
                  overlay_alpha: float | None = None) -> FrameOutputs:
    """A PanopticResult -> the node's outputs, computed with the node's own helpers (conversions,
    visualization) so the bag holds what the live node would publish."""
    from ..conversions import instance_records, semantic_from_panoptic

    pan = result.panoptic
    panoptic = (pan.detach().cpu().numpy() if hasattr(pan, "detach") else np.asarray(pan)).astype(np.int32)
    segments = result.segments
    semantic = semantic_from_panoptic(panoptic, segments, len(categories))
    instances = instance_records(panoptic, segments, categories)
    overlay = None
    if image_rgb is not None and overlay_alpha is not None:
        from ...visualization import render_overlay
        overlay = render_overlay(image_rgb, panoptic, segments, categories, alpha=overlay_alpha)
    return FrameOutputs(panoptic, semantic, instances, overlay)
