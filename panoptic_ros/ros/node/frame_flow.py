"""The way a frame goes through the node, one direction only:

    subscription -> put() -> newest-frame slot (batching.py)
    -> inference thread: decode, FrameProcessor.predict on the batch (model_slot.py)
    -> output thread (output_stage.py): depth match, FrameFinisher.finish (track, 3D) -> publishing.publish_frame

Why here: the two worker threads run this module's steps and report trouble through NodeLog; neither calls back
into the node. The output thread publishes a batch while the network runs the next one.
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sensor_msgs.msg import CompressedImage
from std_msgs.msg import Header

from panoptic_ros.data.image_limits import ImageTooLarge
from panoptic_ros.stream import FrameFinisher, FrameProcessor

from .. import conversions
from .. import depth_conversions as dc
from ..stamp_matcher import miss_cause, stamp_to_ns
from . import publishing
from .batching import BatchWorker, FairBatchScheduler
from .camera import CameraInput
from .log import NodeLog
from .model_slot import ModelSlot
from .output_stage import OutputStage


@dataclass
class _Frame:
    """One decoded frame of a batch."""
    camera: CameraInput
    msg: Any
    received: float
    rgb: Any


@dataclass
class _Batch:
    """One batch on its way from the inference thread to the output thread (the finisher, not the model: a
    replaced model is closed as soon as its last batch leaves the network)."""
    frames: list
    results: list
    finisher: FrameFinisher
    model_time: float


class FrameFlow:
    """The inference and output threads of one activation (started at once, stop() ends both)."""

    def __init__(self, cameras: list[CameraInput], slot: ModelSlot, log: NodeLog, *, max_batch: int,
                 closing: Callable[[], bool], batch_sizes: deque):
        self._by_name = {c.name: c for c in cameras}
        self._slot, self._log, self._closing = slot, log, closing
        self._batch_sizes = batch_sizes              # frames per network call (diagnostics)
        self.scheduler = FairBatchScheduler([c.name for c in cameras], max_batch)
        self._output = OutputStage(self._publish_batch, on_error=self._on_output_error).start()
        self._worker = BatchWorker(self.scheduler, self._infer, on_error=self._on_infer_error).start()

    def put(self, cam: CameraInput, msg) -> None:
        """Executor thread: count and hand over to the camera's newest-frame slot; never blocks on the model."""
        now = time.monotonic()
        if cam.watchdog is not None:
            cam.watchdog.frame(now)
        cam.stats.arrived(now)
        if self.scheduler.put(cam.name, (msg, now)):
            cam.stats.count("dropped")

    def stop(self, timeout: float) -> bool:
        """Drop the waiting frames, let the running batch finish and be published; False on timeout."""
        finished = self._worker.stop(timeout)
        return self._output.stop(timeout) and finished

    # ------------------------------------------------------------------------------ inference thread
    def _infer(self, batch: list) -> None:
        """One batch [(camera name, (msg, received))] decoded and through the network, handed to the output thread."""
        processor = self._slot.take()
        try:
            if processor is not None:
                self._infer_with(batch, processor)
        finally:
            del processor   # so a replaced model is unreferenced once closed
            self._slot.release(close_retired=not self._closing())

    def _infer_with(self, batch: list, processor: FrameProcessor) -> None:
        limit = processor.cfg.inference.max_input_pixels
        frames = []
        for name, (msg, received) in batch:
            cam = self._by_name[name]
            rgb = self._decode(cam, msg, limit)
            if rgb is not None:
                frames.append(_Frame(cam, msg, received, rgb))
        if not frames:
            return
        start = time.monotonic()
        results = processor.predict([f.rgb for f in frames])
        model_time = time.monotonic() - start
        self._batch_sizes.append(len(frames))
        if not self._closing():   # else abandoned at shutdown: the publishers are going away
            self._output.put(_Batch(frames, results, processor.finisher, model_time))

    def _decode(self, cam: CameraInput, msg, limit: int):
        try:
            return (conversions.compressed_msg_to_rgb(msg, limit) if isinstance(msg, CompressedImage)
                    else conversions.image_msg_to_rgb(msg, limit))
        except ImageTooLarge as exc:
            cam.stats.count("rejected")
            cam.stats.count("too_large")
            self._log.warn_throttled(f"rejected a frame from {cam.topic}: {exc}")
        except conversions.ImageConversionError as exc:
            cam.stats.count("rejected")
            self._log.warn_throttled(f"rejected a frame from {cam.topic}: {exc}")
        return None

    def _on_infer_error(self, exc: BaseException, batch) -> None:
        for name, _ in batch:
            self._log.frame_error(self._by_name[name], exc)

    # ------------------------------------------------------------------------------ output thread
    def _publish_batch(self, batch: _Batch) -> None:
        """Finish and publish every camera's frame of one batch (in order: trackers see stamps in order)."""
        for frame, result in zip(batch.frames, batch.results):
            if self._closing():
                return
            try:
                self._publish_frame(frame, result, batch.finisher)
            except Exception as exc:  # noqa: BLE001 - one camera's failure must not lose the others' outputs
                self._log.frame_error(frame.camera, exc)
                continue
            done = time.monotonic()
            frame.camera.stats.frame_done(done, done - frame.received, batch.model_time,
                                          frame.camera.tracks.last_update_s)

    def _publish_frame(self, frame: _Frame, result, finisher: FrameFinisher) -> None:
        cam, header = frame.camera, frame.msg.header
        depth, header_3d = None, None
        if cam.matcher is not None and cam.pub_3d is not None:
            depth, header_3d = self._match_depth(cam, header, result.panoptic.shape[-2:], finisher.cfg.node)
        out = finisher.finish(result, header=header, stamp=stamp_to_ns(header.stamp) * 1e-9, image=frame.rgb,
                              tracks=cam.tracks, depth=depth)
        for reason in cam.tracks.resets:
            self._log.info(f"{cam.label()}: tracker reset: {reason}")
        publishing.publish_frame(cam, out, finisher.cfg.node, header_3d)

    def _match_depth(self, cam: CameraInput, header, shape, node_cfg) -> tuple:
        """(depth metres, intrinsics) matched to the frame and the 3D outputs' header (the camera_info frame), or
        (None, None) with a throttled warning: the frame is then published in 2D only."""
        match = cam.matcher.match(stamp_to_ns(header.stamp))
        if not match.complete:
            cam.stats.count("no_depth")
            if "camera_info" in match.missing:
                self._log.warn_throttled(f"{cam.label()}: no camera_info received on "
                                         f"{cam.depth_topics['camera_info']}: publishing 2D only")
            else:
                frame_ns = stamp_to_ns(header.stamp)
                cause = miss_cause("depth", cam.matcher.received["depth"], cam.stats.counts["received"],
                                   cam.matcher.stamps("depth"), frame_ns, cam.matcher.tolerance_ns,
                                   cam.depth_publishers.get("depth", 0))
                self._log.warn_throttled(
                    f"{cam.label()}: no depth image on {cam.depth_topics['depth']} within depth_tolerance="
                    f"{node_cfg.depth_tolerance} s of the frame's stamp: publishing 2D only for it; {cause}")
            return None, None
        height, width = (int(v) for v in shape)
        try:
            depth, k = dc.prepare_depth(match.messages["depth"], match.messages["camera_info"], (width, height))
        except dc.DepthConversionError as exc:
            cam.stats.count("no_depth")
            self._log.warn_throttled(f"{cam.label()}: depth not used: {exc}; publishing 2D only")
            return None, None
        info_frame = str(match.messages["camera_info"].header.frame_id)
        return (depth, k), Header(stamp=header.stamp, frame_id=info_frame or header.frame_id)

    def _on_output_error(self, exc: BaseException, batch: _Batch) -> None:
        for frame in batch.frames:
            self._log.frame_error(frame.camera, exc)
