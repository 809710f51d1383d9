"""Timing several callables side by side: one call of each per round, so a busy machine slows all alike."""
from __future__ import annotations

import time


def round_robin(calls: dict, repeats: int, warmup: int, clock=time.perf_counter) -> dict[str, list[float]]:
    """name -> seconds of each timed call (``clock``: wall or process time), after ``warmup`` untimed rounds."""
    import torch

    times = {k: [] for k in calls}
    with torch.inference_mode():
        for _ in range(warmup):
            for call in calls.values():
                call()
        for _ in range(repeats):
            for name, call in calls.items():
                start = clock()
                call()
                times[name].append(clock() - start)
    return times
