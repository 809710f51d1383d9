"""Reading camera images out of rosbag2 bags (mcap and sqlite3) with the rosbags library.

One place decides what a usable frame is: the bag must open (corrupt or truncated bags, unknown topics and
topics that are not images are clear ``BagError``s), while a bad record inside a good bag (undecodable CDR,
image data shorter than height*step, zero size, unsupported encoding, corrupt JPEG) is skipped and counted so
that one broken frame never ends a long evaluation.
"""
from __future__ import annotations

import logging
import re
import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...data.image_limits import ImageTooLarge
from ..conversions import compressed_msg_to_rgb, image_msg_to_rgb

log = logging.getLogger(__name__)

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES = (IMAGE, COMPRESSED)


class BagError(ValueError):
    """The bag cannot be used as asked (missing, corrupt, truncated, unknown topic, not an image topic)."""


@dataclass
class BagFrame:
    """One decoded image of the bag.

    index: position of the message among the messages of its topic (0-based, bag order, bad records
    included), the key that maps a frame to its ground truth; stamp_ns: the header stamp;
    log_time_ns: the time the recorder received it (the bag's own timestamp).
    """
    index: int
    topic: str
    log_time_ns: int
    stamp_ns: int
    frame_id: str
    image: np.ndarray      # H x W x 3 uint8 RGB
    header: object         # the message's std_msgs/Header (rosbags object), copied onto the outputs


@dataclass
class RawRecord:
    """One undecoded message of an image topic (what the player publishes as is)."""
    index: int
    topic: str
    msgtype: str
    log_time_ns: int
    data: bytes


@dataclass
class SkipLog:
    """Bad records met while reading: a count per reason and the first few (index, reason) pairs."""
    counts: Counter = field(default_factory=Counter)
    examples: list = field(default_factory=list)

    def add(self, topic: str, index: int, reason: str) -> None:
        kind = re.sub(r"\d+", "N", reason.split(":")[0])[:80]  # group by kind, not by size
        self.counts[kind] += 1
        if len(self.examples) < 20:
            self.examples.append({"topic": topic, "index": index, "reason": reason})
        n = self.counts[kind]
        if n <= 3 or n % 100 == 0:   # throttled: a bag of 10,000 bad frames must not flood the console
            log.warning("skipping bad record %d on %s: %s%s", index, topic, reason,
                        f" ({n} of this kind so far)" if n > 1 else "")

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict:
        return {"total": self.total, "by_reason": dict(self.counts), "examples": self.examples}


def header_stamp_ns(cdr: bytes) -> int:
    """Header stamp of a serialized Image/CompressedImage without deserializing it (header comes first)."""
    if len(cdr) < 12:
        raise ValueError("message too short for a header")
    fmt = "<iI" if cdr[1] == 1 else ">iI"
    sec, nsec = struct.unpack_from(fmt, cdr, 4)
    return sec * 1_000_000_000 + nsec


def set_header_stamp(cdr: bytes, stamp_ns: int) -> bytes:
    """Copy of a serialized Image/CompressedImage with a new header stamp (for re-stamping on replay)."""
    buf = bytearray(cdr)
    fmt = "<iI" if buf[1] == 1 else ">iI"
    struct.pack_into(fmt, buf, 4, stamp_ns // 1_000_000_000, stamp_ns % 1_000_000_000)
    return bytes(buf)


def typestore():
    """The rosbags type store used for every message this package reads or writes."""
    from rosbags.typesys import Stores, get_typestore
    return get_typestore(Stores.LATEST)


class ImageBagReader:
    """Reads the image topics of one rosbag2 bag (directory, .mcap or .db3 file).

    >>> with ImageBagReader("runs/demo/sample_bag", "/camera/image_raw") as bag:
    ...     for frame in bag.frames():
    ...         ...
    ...     print(bag.skipped.total)
    """

    def __init__(self, path: str | Path, topics: str | list[str] | None = None, *, max_pixels: int = 0):
        self.path = Path(path)
        self.requested = [topics] if isinstance(topics, str) else list(topics or [])
        self.max_pixels = int(max_pixels)       # inference.max_input_pixels (0 = no limit); may be set after open
        self.skipped = SkipLog()
        self.too_large = 0                      # frames skipped for declaring more than max_pixels
        self._reader = None
        self._typestore = None
        self.topics: dict[str, str] = {}        # every topic of the bag -> message type
        self.counts: dict[str, int] = {}        # topic -> message count (from the bag's index)
        self.storage = ""

    # --- opening and checks ---------------------------------------------------------------------
    def open(self) -> ImageBagReader:
        from rosbags.rosbag2 import Reader

        if not self.path.exists():
            raise BagError(f"bag not found: {self.path}")
        try:
            reader = Reader(self.path)
            reader.open()
        except Exception as exc:  # rosbags raises ReaderError, but garbled files raise anything
            raise BagError(self._corrupt_message(exc)) from None
        self._reader = reader
        self._typestore = typestore()
        self.storage = self._storage_id()
        for conn in reader.connections:
            self.topics[conn.topic] = conn.msgtype
            self.counts[conn.topic] = self.counts.get(conn.topic, 0) + conn.msgcount
        self._check_topics()
        return self

    def _storage_id(self) -> str:
        if self.path.is_dir():
            return "mcap" if any(self.path.glob("*.mcap")) else "sqlite3"
        return {".mcap": "mcap", ".db3": "sqlite3"}.get(self.path.suffix, self.path.suffix)

    def _corrupt_message(self, exc: Exception) -> str:
        return (f"cannot read bag {self.path}: {exc} (is it a rosbag2 directory, .mcap or .db3 file? "
                "A truncated recording can be repaired with `ros2 bag reindex` or `mcap recover`)")

    def _check_topics(self) -> None:
        images = self.image_topics
        if not self.requested:
            if not images:
                raise BagError(f"bag {self.path} has no image topics (sensor_msgs/msg/Image or CompressedImage); "
                               f"its topics: {self._describe()}")
            self.requested = images
            return
        for topic in self.requested:
            if topic not in self.topics:
                raise BagError(f"topic {topic!r} is not in bag {self.path}; its topics: {self._describe()}")
            if self.topics[topic] not in IMAGE_TYPES:
                raise BagError(f"topic {topic!r} in bag {self.path} has type {self.topics[topic]}, not an image "
                               f"(sensor_msgs/msg/Image or CompressedImage); image topics: {images or 'none'}")

    def _describe(self) -> str:
        return ", ".join(f"{t} ({m})" for t, m in sorted(self.topics.items())) or "none"

    @property
    def image_topics(self) -> list[str]:
        return sorted(t for t, m in self.topics.items() if m in IMAGE_TYPES)

    @property
    def message_count(self) -> int:
        """Messages on the selected topics (from the bag's index, bad records included)."""
        return sum(self.counts.get(t, 0) for t in self.requested)

    def close(self) -> None:
        if self._reader is not None:
            try:
                self._reader.close()
            finally:
                self._reader = None

    def __enter__(self) -> ImageBagReader:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    # --- iteration --------------------------------------------------------------------------------
    def records(self) -> Iterator[RawRecord]:
        """Raw messages of the selected topics in bag order (storage errors become BagError)."""
        if self._reader is None:
            raise BagError("ImageBagReader is not open")
        conns = [c for c in self._reader.connections if c.topic in self.requested]
        index: Counter = Counter()
        stream = self._reader.messages(connections=conns)
        n = 0
        while True:
            try:
                conn, log_time, data = next(stream)
            except StopIteration:
                return
            except Exception as exc:
                raise BagError(f"bag {self.path} is corrupt or truncated after {n} messages: {exc}") from None
            n += 1
            i = index[conn.topic]
            index[conn.topic] += 1
            yield RawRecord(i, conn.topic, conn.msgtype, log_time, bytes(data))

    def frames(self) -> Iterator[BagFrame]:
        """Decoded RGB frames of the selected topics; bad records are skipped and counted in ``skipped``, and so
        are frames declaring more than ``max_pixels`` (raw: height x width; compressed: the PNG / JPEG header),
        which are never decoded (also counted in ``too_large``)."""
        for rec in self.records():
            try:
                msg = self._typestore.deserialize_cdr(rec.data, rec.msgtype)
            except Exception as exc:
                self.skipped.add(rec.topic, rec.index, f"undecodable message: {exc}")
                continue
            try:
                image = decode_image(msg, rec.msgtype, self.max_pixels)
            except ImageTooLarge as exc:
                self.too_large += 1
                self.skipped.add(rec.topic, rec.index, f"too large: {exc}")
                continue
            except ValueError as exc:
                self.skipped.add(rec.topic, rec.index, str(exc))
                continue
            if not image.flags.writeable:  # a view of the bag's buffer: give consumers their own array
                image = image.copy()
            stamp = msg.header.stamp
            yield BagFrame(rec.index, rec.topic, rec.log_time_ns, stamp.sec * 1_000_000_000 + stamp.nanosec,
                           msg.header.frame_id, image, msg.header)


def decode_image(msg, msgtype: str, max_pixels: int = 0) -> np.ndarray:
    """A rosbags Image/CompressedImage as H x W x 3 uint8 RGB with the node's own decoders and checks
    (ImageConversionError, a ValueError naming the problem, for bad input; ImageTooLarge above max_pixels,
    checked before decoding)."""

    if msgtype == COMPRESSED:
        return compressed_msg_to_rgb(msg, max_pixels)
    return image_msg_to_rgb(msg, max_pixels)
