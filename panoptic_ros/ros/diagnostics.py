"""Frame statistics of the node and their /diagnostics message.

FrameStats (no ROS) counts frames and keeps recent latencies; diagnostic_status() turns a snapshot into a
diagnostic_msgs/DiagnosticStatus with rate, latency, model and tracker percentiles, dropped and rejected frames.
"""
from __future__ import annotations

import threading
from collections import deque

import numpy as np

OK, WARN, ERROR = 0, 1, 2      # diagnostic_msgs/DiagnosticStatus levels (bytes in the message)


class FrameStats:
    """Thread-safe counters and a window of recent per-frame timings (seconds)."""

    # too_large: rejected (also counted there) for exceeding max_input_pixels; load_failures: background model
    # loads that failed (the node kept its model and set the parameters back); no_depth: frames published 2D only
    # although use_depth is on (no matching depth / camera_info, or depth that does not fit the image)
    COUNTERS = ("received", "processed", "dropped", "rejected", "too_large", "errors", "load_failures", "no_depth")

    def __init__(self, window: int = 200, rate_window: float = 5.0):
        self._lock = threading.Lock()
        self.counts = {k: 0 for k in self.COUNTERS}
        self._arrivals = deque(maxlen=30)        # arrival times of received frames: the camera's own rate
        self._first_snapshot: float | None = None
        self._latency = deque(maxlen=window)     # receive -> outputs published
        self._model = deque(maxlen=window)       # predict()
        self._tracker = deque(maxlen=window)     # the tracker's update() (0 with tracking off)
        self._done = deque(maxlen=window)        # completion times, for the rate
        self._rate_window = rate_window
        self._last_report = dict(self.counts)

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n

    def arrived(self, now: float) -> None:
        """A frame was received (counted, and its arrival time kept for the camera's rate)."""
        with self._lock:
            self.counts["received"] += 1
            self._arrivals.append(now)

    def arrival_interval(self) -> float | None:
        """Median seconds between received frames (the camera's own period), None before two frames."""
        with self._lock:
            times = list(self._arrivals)
        return float(np.median(np.diff(times))) if len(times) >= 2 else None

    def last_arrival(self) -> float | None:
        with self._lock:
            return self._arrivals[-1] if self._arrivals else None

    def frame_done(self, now: float, latency: float, model_time: float, tracker_time: float = 0.0) -> None:
        with self._lock:
            self.counts["processed"] += 1
            self._latency.append(latency)
            self._model.append(model_time)
            self._tracker.append(tracker_time)
            self._done.append(now)

    def rate(self, now: float) -> float:
        """Processed frames per second over the last rate_window seconds."""
        with self._lock:
            recent = [t for t in self._done if now - t <= self._rate_window]
        if len(recent) < 2:
            return 0.0
        span = max(now - recent[0], recent[-1] - recent[0])
        return (len(recent) - 1) / span if span > 0 else 0.0

    def snapshot(self, now: float) -> dict:
        """Counters, rate and latency percentiles (ms) plus what changed since the previous snapshot."""
        rate = self.rate(now)
        with self._lock:
            lat = np.asarray(self._latency, dtype=np.float64) * 1000.0
            mod = np.asarray(self._model, dtype=np.float64) * 1000.0
            track = np.asarray(self._tracker, dtype=np.float64) * 1000.0
            counts = dict(self.counts)
            delta = {k: counts[k] - self._last_report[k] for k in self.COUNTERS}
            self._last_report = counts
        if self._first_snapshot is None:
            self._first_snapshot = now
        last = self.last_arrival()
        snap = {**counts, "rate_hz": rate, "delta": delta, "frame_age_s": None if last is None else now - last,
                "frame_interval_s": self.arrival_interval(), "watched_s": now - self._first_snapshot}
        for name, values in (("latency", lat), ("model", mod), ("tracker", track)):
            for q in (50, 90, 99):
                snap[f"{name}_p{q}_ms"] = float(np.percentile(values, q)) if values.size else float("nan")
        return snap


SILENCE_MIN = 5.0        # s without a frame before silence is reported, however fast the camera
SILENCE_PERIODS = 4.0    # ... and at least this many of the camera's own frame intervals


def silence_limit(interval: float | None) -> float:
    """Seconds of silence that are news for a camera whose frames come every `interval` seconds (None: unknown)."""
    return max(SILENCE_MIN, SILENCE_PERIODS * interval) if interval else SILENCE_MIN


def status_level(snap: dict, publisher_count: int) -> tuple[int, str]:
    """(level, message) of a snapshot: WARN on new errors or rejected frames, or on publishers whose silence is
    long for the camera's own rate (a 0.5 Hz camera is not silent between two frames)."""
    delta = snap["delta"]
    if delta["load_failures"]:
        return WARN, f"{delta['load_failures']} model load(s) failed: kept the previous model"
    if delta["errors"]:
        return WARN, f"{delta['errors']} frame(s) failed in inference"
    if delta["too_large"]:
        return WARN, f"{delta['too_large']} frame(s) above max_input_pixels rejected"
    if delta["rejected"]:
        return WARN, f"{delta['rejected']} bad frame(s) rejected"
    age, interval = snap.get("frame_age_s"), snap.get("frame_interval_s")
    limit = silence_limit(interval)
    if publisher_count and age is None and snap.get("watched_s", 0.0) >= limit:
        return WARN, f"{publisher_count} publisher(s) but no frame received in {snap['watched_s']:.0f} s"
    if publisher_count and age is not None and age > limit:
        usual = f"the camera's usual interval: {interval:.2f} s" if interval else "one frame received so far"
        return WARN, f"{publisher_count} publisher(s) but no frame for {age:.1f} s ({usual})"
    if age is None:
        return OK, "waiting for images"
    return OK, "running"


def diagnostic_status(snap: dict, *, name: str, hardware_id: str, publisher_count: int, extra: dict | None = None):
    """diagnostic_msgs/DiagnosticStatus of a FrameStats snapshot (values as strings, latencies in ms)."""
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

    level, message = status_level(snap, publisher_count)
    values = {
        "frames received": snap["received"], "frames processed": snap["processed"],
        "frames dropped": snap["dropped"], "frames rejected": snap["rejected"],
        "frames too large": snap["too_large"], "inference errors": snap["errors"],
        "model load failures": snap["load_failures"],
        "rate (Hz)": f"{snap['rate_hz']:.2f}",
        "latency p50 (ms)": f"{snap['latency_p50_ms']:.1f}", "latency p90 (ms)": f"{snap['latency_p90_ms']:.1f}",
        "latency p99 (ms)": f"{snap['latency_p99_ms']:.1f}", "model p50 (ms)": f"{snap['model_p50_ms']:.1f}",
        "tracker p50 (ms)": f"{snap['tracker_p50_ms']:.2f}", "tracker p90 (ms)": f"{snap['tracker_p90_ms']:.2f}",
        "publishers": publisher_count,
        "seconds since last frame": "n/a" if snap.get("frame_age_s") is None else f"{snap['frame_age_s']:.1f}",
        "camera frame interval (s)": ("n/a" if snap.get("frame_interval_s") is None
                                      else f"{snap['frame_interval_s']:.3f}"),
    }
    values.update(extra or {})
    return DiagnosticStatus(level=bytes([level]), name=name, message=message, hardware_id=hardware_id,
                            values=[KeyValue(key=str(k), value=str(v)) for k, v in values.items()])


def diagnostic_values(status) -> dict[str, str]:
    """{key: value} of a DiagnosticStatus (for tests and tools reading /diagnostics)."""
    return {kv.key: kv.value for kv in status.values}
