"""Approximate-time matching of colour frames to the depth and camera_info messages of the same instant.

message_filters is not on the package index, and the node needs less than its ApproximateTimeSynchronizer:
the colour frame is the master (the node processes the newest one), and at publish time it asks for the
depth / camera_info whose header stamp is nearest to the frame's, within a tolerance. Each stream keeps a
bounded buffer of its last ``capacity`` messages in arrival order (the oldest arrival is evicted, so a
bag that loops back in time is matched at once instead of being evicted by older-looking stamps). A
stream marked ``any_stamp`` (e.g. a camera_info published once, latched) matches its newest message
whatever its stamp. Messages are opaque; stamps are integer nanoseconds. Thread-safe (subscriptions add,
the inference thread matches).
"""
from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

GAP_STEPS = 1.5      # a step between buffered stamps above this x their median step: messages missing there


def stamp_to_ns(stamp) -> int:
    """builtin_interfaces/Time (anything with sec and nanosec) -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def seconds_to_stamp(seconds: float) -> tuple[int, int]:
    """Float seconds (e.g. the tracker's first_seen) -> (sec, nanosec) of a builtin_interfaces/Time."""
    ns = round(float(seconds) * 1e9)
    return ns // 1_000_000_000, ns % 1_000_000_000


@dataclass
class Match:
    """The result of StampMatcher.match: matched messages by stream, the streams without a match, and each
    match's stamp offset (message stamp - frame stamp, ns)."""
    messages: dict[str, Any] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    offsets_ns: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.missing


class StampMatcher:
    def __init__(self, streams: Sequence[str], tolerance: float, *, capacity: int = 30,
                 any_stamp: Iterable[str] = ()):
        """streams: names of the secondary streams (e.g. ("depth", "camera_info")); tolerance: seconds of
        |stamp difference| still matched; capacity: messages kept per stream."""
        if not streams or len(set(streams)) != len(streams):
            raise ValueError(f"streams: need distinct stream names, got {list(streams)}")
        if not tolerance >= 0:
            raise ValueError(f"tolerance must be >= 0 seconds, got {tolerance}")
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        unknown = set(any_stamp) - set(streams)
        if unknown:
            raise ValueError(f"any_stamp names unknown streams {sorted(unknown)} (streams: {list(streams)})")
        self.streams = tuple(streams)
        self.tolerance_ns = round(tolerance * 1e9)
        self.any_stamp = frozenset(any_stamp)
        self._buffers: dict[str, deque] = {s: deque(maxlen=capacity) for s in self.streams}
        self._lock = threading.Lock()
        self.matched = dict.fromkeys(self.streams, 0)    # per stream: frames it was matched for
        self.missed = dict.fromkeys(self.streams, 0)     # per stream: frames it had no message for
        self.received = dict.fromkeys(self.streams, 0)   # per stream: messages added (evidence of transport loss)

    def add(self, stream: str, stamp_ns: int, msg: Any) -> None:
        """Buffer one message of a secondary stream (any order of stamps)."""
        buffer = self._buffers.get(stream)
        if buffer is None:
            raise KeyError(f"unknown stream {stream!r} (streams: {list(self.streams)})")
        with self._lock:
            buffer.append((int(stamp_ns), msg))
            self.received[stream] += 1

    def stamps(self, stream: str) -> list[int]:
        """Stamps (ns) of the buffered messages of a stream, in arrival order."""
        with self._lock:
            return [stamp for stamp, _ in self._buffers[stream]]

    def buffered(self, stream: str) -> int:
        with self._lock:
            return len(self._buffers[stream])

    def clear(self) -> None:
        """Forget every buffered message (e.g. on deactivate)."""
        with self._lock:
            for buffer in self._buffers.values():
                buffer.clear()

    def match(self, stamp_ns: int) -> Match:
        """The nearest-stamped message of every stream within the tolerance of a colour frame's stamp (ties:
        the later arrival). Messages stay buffered: the next frame may match them too."""
        stamp_ns = int(stamp_ns)
        out = Match()
        missing = []
        with self._lock:
            for stream, buffer in self._buffers.items():
                best = None
                for order, (stamp, msg) in enumerate(buffer):
                    offset = stamp - stamp_ns
                    key = (order,) if stream in self.any_stamp else (-abs(offset), order)
                    if (stream in self.any_stamp or abs(offset) <= self.tolerance_ns) and (
                            best is None or key >= best[0]):
                        best = (key, offset, msg)
                if best is None:
                    missing.append(stream)
                    self.missed[stream] += 1
                else:
                    out.messages[stream], out.offsets_ns[stream] = best[2], best[1]
                    self.matched[stream] += 1
        out.missing = tuple(missing)
        return out


def miss_cause(stream: str, received: int, frames: int, stamps: list[int], frame_ns: int, tolerance_ns: int,
               publishers: int) -> str:
    """Why a colour frame found no `stream` message within the tolerance, from the evidence: how many arrived
    for how many colour frames and from how many publishers (transport loss), and where the buffered stamps lie
    (late arrival, or stamps that differ). received / frames: counts since the subscription; stamps: the
    buffered ones (ns)."""
    lost = ("they are being lost in transport, not mismatched in time (large images: publish them reliable, or "
            "give the publisher the large-message Fast DDS profile, README transport)")
    if received == 0 and publishers == 0:
        return f"nobody publishes {stream}: check the topic name (remapping) and that the camera driver runs"
    if received == 0:
        return f"{publishers} publisher(s) but none of their {stream} images arrived: {lost}"
    if received < frames / 2:
        return f"only {received} {stream} images arrived for {frames} colour frames: {lost}"
    steps = np.diff(np.unique(stamps))       # a step well above the stream's own period: images missing between
    if len(steps) >= 3 and steps.max() > GAP_STEPS * np.median(steps):
        return (f"{stream} images are missing between those that arrived (a {steps.max() / 1e6:.0f} ms gap in "
                f"stamps {np.median(steps) / 1e6:.0f} ms apart): {lost}")
    if stamps and max(stamps) < frame_ns - tolerance_ns:
        late = f"the newest {stream} stamp is {(frame_ns - max(stamps)) / 1e6:.0f} ms older than the frame's"
        if received < frames:                # late, or the newest ones lost: the evidence cannot tell
            return (f"{late} and {received} {stream} images arrived for {frames} colour frames: either {stream} "
                    f"arrives late (its camera lags the colour camera), or {lost}")
        return f"{late}: {stream} arrives late or its camera lags the colour camera"
    nearest = min(stamps, key=lambda t: abs(t - frame_ns)) if stamps else frame_ns
    return (f"{stream} images arrive ({received} for {frames} colour frames) but the nearest stamp is "
            f"{abs(nearest - frame_ns) / 1e6:.0f} ms from the frame's: the cameras' stamps differ (clocks, rates), "
            "not the transport; synchronise them or raise depth_tolerance")
