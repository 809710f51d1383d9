"""The per-frame chain of a stream: predict (batched) -> track -> OutputFrame (+ depth for 3D).

Why two classes: the network step needs the model, the rest only its class map and the settings. The node
hands batches from its inference thread to its output thread with just the FrameFinisher, so a replaced model
is released as soon as its last batch leaves the network.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from panoptic_ros.config import PanopticConfig

from .frame import OutputFrame
from .tracks import StreamTracks


class FrameFinisher:
    """track -> OutputFrame for the results of one model and one set of settings."""

    def __init__(self, categories, cfg: PanopticConfig):
        self.categories, self.cfg = categories, cfg

    def finish(self, result, *, header: Any, stamp: float, image: np.ndarray | None = None,
               tracks: StreamTracks | None = None, depth: tuple | None = None) -> OutputFrame:
        """The frame's outputs-to-be. stamp: seconds (the header's stamp) for the tracker; tracks: the stream's
        tracker (None: no tracking); depth: (HxW metres, Intrinsics) registered to the image, for 3D."""
        if tracks is not None:
            result = tracks.update(result, stamp, self.cfg.inference, self.categories, image=image,
                                   depth=depth[0] if depth is not None else None)
        node = self.cfg.node
        frame = OutputFrame(result, header, self.categories, image, node.overlay_alpha)
        if depth is not None:
            frame.depth, frame.intrinsics = depth
            frame.max_depth = node.max_depth
        return frame


class FrameProcessor:
    """A model with its settings: predict() a batch of images, finisher.finish() each result; process() both for
    a single frame (bag eval, benchmarks)."""

    def __init__(self, model, cfg: PanopticConfig):
        self.model, self.cfg = model, cfg
        self.finisher = FrameFinisher(model.categories, cfg)

    @property
    def categories(self):
        return self.model.categories

    def predict(self, images: Sequence[np.ndarray]) -> list:
        """One network call for all images (RGB uint8 HxWx3): their PanopticResults in order."""
        return self.model.predict(list(images), inference=self.cfg.inference)

    def process(self, image: np.ndarray, *, header: Any, stamp: float, tracks: StreamTracks | None = None,
                depth: tuple | None = None) -> OutputFrame:
        return self.finisher.finish(self.predict([image])[0], header=header, stamp=stamp, image=image, tracks=tracks,
                                    depth=depth)
