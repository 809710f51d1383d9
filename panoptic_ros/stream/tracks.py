"""One stream's tracker: stable segment ids across its frames, and the reasons it was reset.

Why a holder around PanopticTracker: the tracker lives as long as the stream (a thing id is never reused), is
created on first use, follows model changes (new class map) and settings changes, and takes reset requests
from another thread (the node's executor) that only the frame thread acts on.
"""
from __future__ import annotations

import threading

from panoptic_ros.tracking import THING_ID_BASE, PanopticTracker


class StreamTracks:
    """Tracker state of one stream. update() runs on the frame thread only; request_reset() from any thread."""

    def __init__(self):
        self.tracker: PanopticTracker | None = None
        self.resets: list[str] = []          # why the tracker was reset during the last update()
        self.last_update_s = 0.0             # the tracker's time in the last update() (0: tracking off)
        self._requested: str | None = None
        self._lock = threading.Lock()

    @property
    def num_tracks(self) -> int:
        return self.tracker.num_tracks if self.tracker is not None else 0

    def request_reset(self, reason: str) -> None:
        """Reset the tracker before the stream's next frame (model changed, deactivated, tracking turned on)."""
        with self._lock:
            self._requested = reason

    def _take_request(self) -> str | None:
        with self._lock:
            reason, self._requested = self._requested, None
            return reason

    def update(self, result, stamp: float, inference_cfg, categories, image=None, depth=None):
        """The result with stable ids when inference_cfg.tracking is on (else unchanged); `resets` lists the
        resets of this call that dropped tracks (a requested one, or the tracker's own, e.g. a stamp jump).
        image / depth: the frame and its registered depth (metres), for re-identification."""
        self.resets = []
        self.last_update_s = 0.0
        requested = self._take_request()
        if not inference_cfg.tracking:
            return result
        if requested is not None and self.tracker is not None:
            if self.tracker.num_tracks:
                self.resets.append(requested)
            self.tracker.reset(requested)
        tracker = self._tracker_for(inference_cfg, categories)
        result = tracker.update(result, stamp, image=image, depth=depth)
        self.last_update_s = tracker.last_update_s
        if tracker.last_reset:
            self.resets.append(tracker.last_reset)
        return result

    def _tracker_for(self, inference_cfg, categories) -> PanopticTracker:
        if self.tracker is None:
            self.tracker = PanopticTracker(inference_cfg, categories)
        elif self.tracker.categories is not categories:
            self.tracker.reset("model changed")
            if categories is not None and len(categories) >= THING_ID_BASE:
                raise ValueError(f"tracking supports fewer than {THING_ID_BASE} classes, the model has "
                                 f"{len(categories)}")
            self.tracker.categories = categories
        self.tracker.configure(inference_cfg)
        return self.tracker
