"""The tracker's state as columns, one row per track (live, or ended and remembered for re-identification).

Why columns: at 50 objects a per-track Python loop (attribute reads, tuple arithmetic, a dataclass per track) cost
more than the mask comparisons themselves; as arrays, a frame's update is a few indexed assignments over all
tracks, whatever their number. The columns are views into one block per dtype, so adding or removing rows is a few
array operations, not one per column. A row's ``order`` keeps the order tracks were created or revived (live rows)
or ended (remembered rows): assignment ties and the memory's eviction (oldest first) depend on it.
"""
from __future__ import annotations

import numpy as np

from .reid import NUM_BINS

ID_SOURCES = ("new", "continued", "reidentified")
NEW, CONTINUED, REIDENTIFIED = range(3)

# name: (dtype, width (0 = a 1-D column), value of a new row)
COLUMNS = {
    "id": (np.int64, 0, 0),
    "category": (np.int64, 0, 0),             # channel index
    "age": (np.int64, 0, 0),                  # frames seen
    "mask_size": (np.int64, 0, 0),            # grid pixels of the mask
    "kept": (np.int64, 0, 0),                 # frames the mask was kept over a smaller (partly hidden) segment
    "source": (np.int64, 0, NEW),             # how the id was obtained this frame (index into ID_SOURCES)
    "reid_area": (np.int64, 0, 0),            # grid pixels when last compared with the lost tracks (young tracks)
    "order": (np.int64, 0, 0),                # creation / revival order (live), ending order (remembered)
    "first_seen": (np.float64, 0, 0.0),       # stamp, seconds
    "last_seen": (np.float64, 0, 0.0),
    "mask_stamp": (np.float64, 0, 0.0),       # when mask, box and centre were seen (last frame not partly hidden)
    "center": (np.float64, 2, 0.0),           # (x, y) image pixels at mask_stamp
    "box": (np.float64, 4, 0.0),              # xyxy at mask_stamp
    "velocity": (np.float64, 2, 0.0),         # image motion, pixels per second
    "rel_velocity": (np.float64, 2, 0.0),     # own motion: minus the camera's (pixels per second)
    "cam_offset": (np.float64, 2, 0.0),       # the camera's integrated image motion at mask_stamp
    "depth": (np.float64, 0, np.nan),         # mean depth of the mask (metres), NaN = unknown
    "born_new": (np.bool_, 0, True),          # created as a new track and not (yet) re-identified
    "has_hist": (np.bool_, 0, False),         # appearance known (frames came with an image)
    "border": (np.bool_, 0, False),           # its box touched the image border
    "live": (np.bool_, 0, True),              # False: ended, in the re-identification memory
    "ghost": (np.bool_, 0, False),            # a lost track's state kept after its revival (for an id handback) ...
    "ghost_until": (np.float64, 0, 0.0),      # ... until this stamp
    "revival_cost": (np.float64, 0, np.nan),  # ... with the cost of that revival (a handback must beat it)
    "hist": (np.float32, NUM_BINS, 0.0),      # appearance: colour histogram, running mean
}


def _layout() -> tuple[dict, dict, dict]:
    """Per dtype: total width and the default row; per column: (dtype, first block column, width)."""
    width, defaults, where = {}, {}, {}
    for name, (dtype, w, default) in COLUMNS.items():
        start = width.get(dtype, 0)
        where[name] = (dtype, start, w)
        width[dtype] = start + max(w, 1)
        defaults.setdefault(dtype, []).extend([default] * max(w, 1))
    return width, {d: np.array(v, dtype=d) for d, v in defaults.items()}, where


_WIDTH, _DEFAULTS, _WHERE = _layout()


class TrackTable:
    """Columns (attributes named as in COLUMNS, first axis = row) plus ``masks``: per row the int32 flat grid
    indices (row x grid width + column) of the track's last mask."""

    def __init__(self):
        self._counter = 0
        self.clear()

    def clear(self) -> None:
        self._blocks = {d: np.zeros((0, w), dtype=d) for d, w in _WIDTH.items()}
        self.masks: list[np.ndarray] = []
        self._bind()

    def _bind(self) -> None:
        for name, (dtype, start, w) in _WHERE.items():
            block = self._blocks[dtype]
            setattr(self, name, block[:, start] if w == 0 else block[:, start:start + w])

    def __len__(self) -> int:
        return len(self.masks)

    def append(self, n: int, masks: list[np.ndarray], **values) -> np.ndarray:
        """Add ``n`` rows (COLUMNS defaults, overridden by ``values``: arrays or scalars); returns their indices."""
        start = len(self)
        new = {d: np.repeat(row[None], n, axis=0) for d, row in _DEFAULTS.items()}
        for name, value in values.items():
            dtype, first, w = _WHERE[name]
            value = np.asarray(value)
            new[dtype][:, first:first + max(w, 1)] = value[:, None] if w == 0 and value.ndim else value
        self._blocks = {d: np.concatenate([self._blocks[d], new[d]]) for d in _WIDTH}
        self.masks.extend(masks)
        self._bind()
        return np.arange(start, start + n)

    def copy(self, rows, **values) -> np.ndarray:
        """Append copies of ``rows`` (masks shared), with ``values`` overridden; returns their indices."""
        rows = np.asarray(rows, dtype=np.int64)
        start = len(self)
        self._blocks = {d: np.concatenate([b, b[rows]]) for d, b in self._blocks.items()}
        self.masks.extend(self.masks[i] for i in rows.tolist())
        self._bind()
        new = np.arange(start, start + len(rows))
        for name, value in values.items():
            getattr(self, name)[new] = value
        return new

    def delete(self, rows) -> None:
        """Remove the rows (indices or a boolean mask); later rows move up."""
        keep = np.ones(len(self), dtype=bool)
        keep[rows] = False
        if keep.all():
            return
        self._blocks = {d: b[keep] for d, b in self._blocks.items()}
        self.masks = [m for m, k in zip(self.masks, keep.tolist()) if k]
        self._bind()

    def next_order(self, n: int) -> np.ndarray:
        """``n`` order values after every one given so far."""
        out = np.arange(self._counter, self._counter + n)
        self._counter += n
        return out

    def live_rows(self) -> np.ndarray:
        """Rows of the live tracks, in creation / revival order."""
        rows = np.flatnonzero(self.live)
        return rows[np.argsort(self.order[rows], kind="stable")]

    def memory_rows(self) -> np.ndarray:
        """Rows of the remembered tracks, oldest first."""
        rows = np.flatnonzero(~self.live)
        return rows[np.argsort(self.order[rows], kind="stable")]
