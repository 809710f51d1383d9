"""How the node reports trouble: one-line warnings throttled per kind of reason, frame errors counted per camera.

Why its own object: the worker threads report through it without calling back into the node.
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

import rclpy

WARN_THROTTLE = 5.0           # s between repeated warnings of one kind


def warning_method(logger):
    """logger.warning (Iron and later) or logger.warn (Humble), bound, so throttling sees the real call site."""
    return getattr(logger, "warning", None) or logger.warn


class ReasonThrottle:
    """Throttles repeated warnings per kind of reason (digits ignored), so a second, different problem is
    still reported while the first one repeats (rclpy's throttling is per call site)."""

    def __init__(self, period: float, max_kinds: int = 64):
        self.period, self.max_kinds = period, max_kinds
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def allow(self, reason: str, now: float) -> bool:
        key = re.sub(r"\d+", "#", reason)[:120]
        with self._lock:
            if now - self._last.get(key, -self.period) < self.period:
                return False
            if len(self._last) >= self.max_kinds:
                self._last.clear()
            self._last[key] = now
            return True


class NodeLog:
    """The node's logger with per-reason throttling; closing() tells when errors are shutdown noise."""

    def __init__(self, node, closing: Callable[[], bool]):
        self.logger = node.get_logger()
        self.warn = warning_method(self.logger)
        self._context = node.context
        self._closing = closing
        self._throttle = ReasonThrottle(WARN_THROTTLE)

    def info(self, text: str) -> None:
        self.logger.info(text)

    def warn_throttled(self, text: str) -> None:
        if self._throttle.allow(text, time.monotonic()):
            self.warn(text)

    def frame_error(self, cam, exc: BaseException) -> None:
        """A frame of camera `cam` failed: counted and logged (throttled); ignored once shutdown started."""
        if self._closing() or not rclpy.ok(context=self._context):
            return  # publishing after shutdown started: not a frame error
        cam.stats.count("errors")
        text = f"inference failed on a frame from {cam.topic}: {type(exc).__name__}: {exc}"
        if self._throttle.allow(text, time.monotonic()):
            self.logger.error(text)
