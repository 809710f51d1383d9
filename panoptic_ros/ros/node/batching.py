"""The node's inference thread: per-camera newest-frame slots and the fair batches taken from them (no ROS
import; unit-tested with plain values).

Each camera has one newest-frame slot (a newer frame replaces the waiting one: latency never grows with a
backlog). take() returns the frames pending from all cameras as one batch for the network. A camera that
stops publishing just has an empty slot, so it never stalls the others. With max_batch set and more cameras
pending than fit, cameras are served round-robin, starting after the last camera served, so every pending
camera gets into one of the next ceil(cameras / max_batch) batches. The worker waits on a condition (never
polls), so an idle node uses no CPU.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any


def call_reporting_errors(process: Callable[[Any], None], item: Any,
                          on_error: Callable[[BaseException, Any], None] | None) -> None:
    """process(item) for a worker thread's loop: an exception goes to on_error(exc, item) (when given) instead of
    ending the thread; a failing on_error is ignored for the same reason."""
    try:
        process(item)
    except BaseException as exc:  # noqa: BLE001 - one bad item must not end the worker
        if on_error is not None:
            try:
                on_error(exc, item)
            except Exception:  # noqa: BLE001
                pass


class FairBatchScheduler:
    """Per-camera newest-frame slots; take() hands out what is pending as one fair batch. Thread-safe:
    subscriptions put(), the inference thread take()s."""

    def __init__(self, cameras: Sequence[str], max_batch: int = 0):
        """cameras: the camera names (order = round-robin order); max_batch: most frames per batch (0 = all)."""
        if not cameras or len(set(cameras)) != len(cameras):
            raise ValueError(f"cameras: need distinct names, got {list(cameras)}")
        if max_batch < 0:
            raise ValueError(f"max_batch must be >= 0 (0 = no limit), got {max_batch}")
        self.cameras = tuple(cameras)
        self.max_batch = int(max_batch)
        self._slots: dict[str, Any] = {}
        self._next = 0                                   # round-robin position of the next camera to serve
        self._closed = False
        self._in_flight = False                          # a taken batch not yet marked done()
        self._cond = threading.Condition()
        self.dropped = dict.fromkeys(self.cameras, 0)    # frames replaced in their slot before being taken

    def put(self, camera: str, frame: Any) -> bool:
        """Make frame the camera's pending frame; True when it replaced one still waiting (counted as dropped)."""
        if camera not in self.dropped:
            raise KeyError(f"unknown camera {camera!r} (cameras: {list(self.cameras)})")
        with self._cond:
            if self._closed:
                return False
            replaced = camera in self._slots
            self.dropped[camera] += int(replaced)
            self._slots[camera] = frame
            self._cond.notify_all()
            return replaced

    def pending(self) -> list[str]:
        with self._cond:
            return [c for c in self.cameras if c in self._slots]

    def _take_locked(self) -> list[tuple[str, Any]]:
        n = len(self.cameras)
        order = [self.cameras[(self._next + i) % n] for i in range(n)]
        chosen = [c for c in order if c in self._slots]
        if self.max_batch:
            chosen = chosen[:self.max_batch]
        if chosen:
            self._next = (self.cameras.index(chosen[-1]) + 1) % n
            self._in_flight = True
        return [(c, self._slots.pop(c)) for c in chosen]

    def take(self, timeout: float | None = 0.0) -> list[tuple[str, Any]]:
        """The pending frames as [(camera, frame)] (round-robin order, at most max_batch). Waits up to timeout
        seconds for a frame (None = until one comes or close()); [] on timeout or when closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._slots and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return []
                self._cond.wait(remaining)
            return [] if self._closed else self._take_locked()

    def done(self) -> None:
        """The batch from the last take() is processed (wakes wait_idle)."""
        with self._cond:
            self._in_flight = False
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Block until no frame waits and no taken batch is unfinished (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (self._slots or self._in_flight) and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def close(self) -> None:
        """Drop the waiting frames and wake take() (shutdown, deactivate)."""
        with self._cond:
            self._closed = True
            self._slots.clear()
            self._cond.notify_all()


class BatchWorker:
    """A thread that runs process(batch) on every batch the scheduler hands out (the node's inference thread,
    for one camera or several). on_error(exc, batch) is called when process raises; the worker keeps running."""

    def __init__(self, scheduler: FairBatchScheduler, process: Callable[[list[tuple[str, Any]]], None], *,
                 on_error: Callable[[BaseException, list], None] | None = None, name: str = "panoptic-batch"):
        self.scheduler = scheduler
        self._process, self._on_error = process, on_error
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> BatchWorker:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> bool:
        """Close the scheduler, let the running batch finish, join; False if the thread did not end."""
        self.scheduler.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def wait_idle(self, timeout: float) -> bool:
        """Block until no frame waits and no batch runs (tests); False on timeout."""
        return self.scheduler.wait_idle(timeout)

    def _run(self) -> None:
        while True:
            batch = self.scheduler.take(timeout=None)
            if not batch:
                return                                   # closed
            try:
                call_reporting_errors(self._process, batch, self._on_error)
            finally:
                self.scheduler.done()
