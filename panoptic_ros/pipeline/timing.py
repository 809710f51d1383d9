"""Stage timing done by the pipeline itself, so predict, eval, bench and the node report the same stages.

A StageTimer is handed through one pipeline run; each stage is a ``with timer.stage(name):`` block. On CUDA the
device is synchronised at the block's edges, so asynchronous kernels are charged to the stage that queued them.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch

STAGES = ("preprocess", "network", "detections", "mapping", "merge")


class StageTimer:
    """Seconds per stage name for one run (repeated stages add up); ``enabled=False`` costs nothing."""

    def __init__(self, device: torch.device | str = "cpu", enabled: bool = True):
        self.device = torch.device(device)
        self.enabled = enabled
        self.seconds: dict[str, float] = {}
        self._lap_start = time.perf_counter()

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        self._sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def lap(self, name: str) -> None:
        """Charge the time since the last lap (or since the timer was made) to ``name``: for stages that follow each
        other through long code, where ``with`` blocks would re-indent it."""
        if not self.enabled:
            return
        self._sync()
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self._lap_start
        self._lap_start = now

    def total(self, names=None) -> float:
        """Sum of the named stages (default: all recorded)."""
        return sum(v for k, v in self.seconds.items() if names is None or k in names)
