"""Frame statistics of the node and their /diagnostics message.

FrameStats (no ROS) counts frames and keeps recent latencies; diagnostic_status() turns a snapshot into a
diagnostic_msgs/DiagnosticStatus with rate, latency percentiles, dropped and rejected frames.
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
        self._latency = deque(maxlen=window)     # receive -> outputs published
        self._model = deque(maxlen=window)       # predict()
        self._done = deque(maxlen=window)        # completion times, for the rate
        self._rate_window = rate_window
        self._last_report = dict(self.counts)

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n

    def frame_done(self, now: float, latency: float, model_time: float) -> None:
        with self._lock:
            self.counts["processed"] += 1
            self._latency.append(latency)
            self._model.append(model_time)
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
            counts = dict(self.counts)
            delta = {k: counts[k] - self._last_report[k] for k in self.COUNTERS}
            self._last_report = counts
        snap = {**counts, "rate_hz": rate, "delta": delta}
        for name, values in (("latency", lat), ("model", mod)):
            for q in (50, 90, 99):
                snap[f"{name}_p{q}_ms"] = float(np.percentile(values, q)) if values.size else float("nan")
        return snap


def status_level(snap: dict, publisher_count: int) -> tuple[int, str]:
    """(level, message) of a snapshot: WARN on new errors, rejected frames, or publishers but no frames."""
    delta = snap["delta"]
    if delta["load_failures"]:
        return WARN, f"{delta['load_failures']} model load(s) failed: kept the previous model"
    if delta["errors"]:
        return WARN, f"{delta['errors']} frame(s) failed in inference"
    if delta["too_large"]:
        return WARN, f"{delta['too_large']} frame(s) above max_input_pixels rejected"
    if delta["rejected"]:
        return WARN, f"{delta['rejected']} bad frame(s) rejected"
    if publisher_count and not delta["received"]:
        return WARN, f"{publisher_count} publisher(s) but no frames received"
    if not publisher_count and not delta["received"]:
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
        "publishers": publisher_count,
    }
    values.update(extra or {})
    return DiagnosticStatus(level=bytes([level]), name=name, message=message, hardware_id=hardware_id,
                            values=[KeyValue(key=str(k), value=str(v)) for k, v in values.items()])


def diagnostic_values(status) -> dict[str, str]:
    """{key: value} of a DiagnosticStatus (for tests and tools reading /diagnostics)."""
    return {kv.key: kv.value for kv in status.values}
