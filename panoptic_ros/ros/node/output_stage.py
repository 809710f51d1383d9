"""The node's second thread: builds and publishes the outputs of a batch while the network runs the next one.

Why: after predict() the node tracks, builds and serializes every camera's outputs in Python (about 15 ms per
640x480 frame here), on one core. Done on the inference thread, the network idles meanwhile; handed over to this
thread, the two overlap (a two-stage pipeline). put() blocks while one batch already waits, so inference never
runs more than one batch ahead and no result is dropped; batches are published in order (the trackers see each
camera's frames in stamp order). No ROS import: unit-testable with plain callables.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from .batching import call_reporting_errors

_STOP = object()


class OutputStage:
    """Runs publish(item) on its own thread for every put() item, in order; on_error(exc, item) when it raises."""

    def __init__(self, publish: Callable[[Any], None], *, on_error: Callable[[BaseException, Any], None] | None = None,
                 name: str = "panoptic-publish"):
        self._publish, self._on_error = publish, on_error
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._unfinished = 0                 # items put and not yet published
        self._cond = threading.Condition()

    def start(self) -> OutputStage:
        self._thread.start()
        return self

    def put(self, item: Any) -> None:
        """Hand over one item; blocks while the previous one still waits (not while it is being published)."""
        with self._cond:
            self._unfinished += 1
        self._queue.put(item)

    def wait_idle(self, timeout: float) -> bool:
        """Block until every item put so far is published (tests); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._unfinished == 0, timeout)

    def stop(self, timeout: float = 5.0) -> bool:
        """Publish what was handed over, then end the thread; False if it did not end within timeout."""
        if not self._thread.is_alive():
            return True
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            return False
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                call_reporting_errors(self._publish, item, self._on_error)
            finally:
                with self._cond:
                    self._unfinished -= 1
                    self._cond.notify_all()
