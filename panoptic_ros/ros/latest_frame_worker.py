"""A worker thread that processes only the newest submitted frame.

The executor thread hands each frame to submit() and returns at once. While the model is busy, a newer
frame replaces the one waiting (counted as dropped), so at most one frame ever waits and latency never
grows with a backlog. No ROS import: unit-testable with plain callables. It keeps no statistics: the
node counts received / dropped / processed / errors in one place (diagnostics.FrameStats).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class LatestFrameWorker:
    """Runs process(item) on a background thread for the newest item only.

    on_error(exc, item) is called when process raises; the worker keeps running.
    """

    def __init__(self, process: Callable[[Any], None], *, on_error: Callable[[BaseException, Any], None] | None = None,
                 name: str = "panoptic-inference"):
        self._process = process
        self._on_error = on_error
        self._cond = threading.Condition()
        self._pending: Any = None
        self._has_pending = False
        self._busy = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> LatestFrameWorker:
        self._thread.start()
        return self

    def submit(self, item: Any) -> bool:
        """Queue item as the next frame; returns True when it replaced a frame that was still waiting."""
        with self._cond:
            if self._stopping:
                return False
            replaced = self._has_pending
            self._pending, self._has_pending = item, True
            self._cond.notify()
            return replaced

    @property
    def pending(self) -> int:
        """Frames waiting (0 or 1)."""
        with self._cond:
            return int(self._has_pending)

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._busy

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing waits and nothing runs (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._has_pending or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def stop(self, timeout: float = 5.0) -> bool:
        """Drop the waiting frame, let the running one finish, join the thread; False if it did not end."""
        with self._cond:
            self._stopping = True
            self._pending, self._has_pending = None, False
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._has_pending and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    self._cond.notify_all()
                    return
                item, self._pending, self._has_pending = self._pending, None, False
                self._busy = True
            try:
                self._process(item)
            except BaseException as exc:  # noqa: BLE001 - a bad frame must not end the worker
                if self._on_error is not None:
                    try:
                        self._on_error(exc, item)
                    except Exception:  # noqa: BLE001
                        pass
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
