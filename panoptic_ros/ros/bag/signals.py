"""SIGINT and SIGTERM as a stop request for the bag tools' loops (no rclpy needed).

The first signal sets ``signum`` and the loop ends after the frame in hand, so the output bag is closed (its
metadata written: the partial bag opens with rosbags' Reader) and the report is written; a second signal
raises KeyboardInterrupt for a user who does not want to wait. `kill` (SIGTERM, what systemd, docker and
launch send first) is thereby handled exactly like Ctrl-C.
"""
from __future__ import annotations

import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignal:
    def __init__(self):
        self.signum: int | None = None
        self._old: dict = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str | None:
        return signal.Signals(self.signum).name if self.signum is not None else None

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old.clear()
