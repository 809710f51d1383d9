"""Training logs: running loss averages for the progress bar and TensorBoard scalars (JSON files go through
utils.json_io).

Only the main process writes; the other ranks get a writer that does nothing, so callers need no rank checks.
"""
from __future__ import annotations

import logging
import math
from collections import defaultdict, deque
from pathlib import Path

log = logging.getLogger(__name__)


class LossMeter:
    """Windowed running means (for the progress bar) and whole-epoch means (for logs and checkpoints)."""

    def __init__(self, window: int = 20):
        self.window = window
        self._recent: dict[str, deque] = defaultdict(lambda: deque(maxlen=self.window))
        self._sum: dict[str, float] = defaultdict(float)
        self._count: dict[str, int] = defaultdict(int)

    def update(self, values: dict[str, float]) -> None:
        for k, v in values.items():
            self._recent[k].append(float(v))
            self._sum[k] += float(v)
            self._count[k] += 1

    def running(self) -> dict[str, float]:
        return {k: sum(d) / len(d) for k, d in self._recent.items() if d}

    def epoch_means(self) -> dict[str, float]:
        return {k: self._sum[k] / self._count[k] for k in self._sum if self._count[k]}

    def reset_epoch(self) -> None:
        self._sum.clear()
        self._count.clear()


def short_postfix(values: dict[str, float], keys: tuple[str, ...] = ("loss", "loss_cls", "loss_box", "loss_ctr",
                                                                       "loss_sem", "loss_offset")) -> dict[str, str]:
    """Compact tqdm postfix: the total loss first, then the parts, 3 significant digits."""
    out = {}
    for k in list(keys) + sorted(set(values) - set(keys)):
        if k in values:
            out[k.replace("loss_", "") if k != "loss" else k] = f"{values[k]:.3g}"
    return out


class ScalarWriter:
    """TensorBoard SummaryWriter on the main process (no-op elsewhere or when tensorboard is missing)."""

    def __init__(self, log_dir: str | Path | None, enabled: bool = True):
        self._writer = None
        if not enabled or log_dir is None:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:  # tensorboard is an optional extra of the pip package
            log.warning("TensorBoard logging disabled (%s); pip install tensorboard to enable it", exc)
            return
        self._writer = SummaryWriter(log_dir=str(log_dir))

    def scalars(self, prefix: str, values: dict[str, float], step: int) -> None:
        if self._writer is None:
            return
        for k, v in values.items():
            if isinstance(v, (int, float)) and math.isfinite(v):
                self._writer.add_scalar(f"{prefix}/{k}", v, step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
