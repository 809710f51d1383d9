"""`panoptic bag eval`: run the model offline over every image of a bag topic, as fast as possible.

Writes into --out:
  output_bag/   rosbag2 (mcap) with every node output (outputs.py: <ns>/panoptic 32SC1 segment ids,
                <ns>/semantic mono8 class index, <ns>/instances PanopticInstanceArray, <ns>/overlay bgr8),
                built as the node builds them, stamped with the input's header, logged at its bag time
  report.json   frames, skipped records (bad or above inference.max_input_pixels), failed frames by reason,
                FPS, per-frame latency percentiles, runtime and precision, PQ/SQ/RQ with --gt, and STQ with
                ID switches per 100 frames when the ground truth is a video (make-sample --sequence); rewritten
                every --report-every seconds while the run goes on ("status": "running") and on every
                exit ("complete", "interrupted (SIGINT|SIGTERM)", "failed: ..."), atomically
  latency.png   per-frame latency plot
  overlays/     the first --save-overlays overlay JPEGs
Tracking (inference.tracking, default on; --no-tracking turns it off) runs panoptic_ros.tracking's
PanopticTracker on every frame with the frame's header stamp, as the node does: the output bag's segment ids
are then stable ids (stuff: channel + 1; things: above THING_ID_BASE, kept by the same object), and STQ /
ID switches measure them. Its per-frame cost is reported as tracker_ms.
Latency of a frame = model.predict (resize, network, panoptic head) + tracking + building the output messages,
the work the node does per frame; the first --warmup frames are excluded from the statistics (not from the bag).
Settings as every `panoptic` command takes them (cli/options.py): the checkpoint's own, then --config FILE,
section.name=value overrides (e.g. inference.input_size=320 node.overlay_alpha=0.3), then the short flags
--model --policy --runtime --precision --device. Each frame goes through panoptic_ros.stream's FrameProcessor,
the chain the node runs (predict -> track -> output frame). The options are parsed in cli/bag_options.py.
No ROS graph is needed: only the rosbags library.

One bad frame never ends the run: unreadable records and frames above inference.max_input_pixels are skipped
before decoding (report "skipped"), and a frame whose processing raises (model error, ground truth of another
size, a category the ground truth does not know) is counted under "failed_frames" by reason. SIGINT and
SIGTERM stop after the frame in hand: the output bag is closed (readable) and the report says "interrupted";
the exit code is then 128 + the signal number.
"""
from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ...stream import FrameProcessor, StreamTracks
from ...utils.json_io import write_json
from .. import outputs as node_outputs
from .groundtruth import BagGroundTruth, BagPQ, channel_to_category_ids
from .reader import BagError, ImageBagReader
from .report import FrameFailures, latency_stats, plot_latency
from .signals import StopOnSignal
from .writer import DEFAULT_NAMESPACE, OutputBagWriter, find_bag_file

log = logging.getLogger(__name__)


@dataclass
class BagEvalOptions:
    """What one bag eval does besides the model settings (see the module docstring for each)."""
    bag: str
    out: Path
    topic: str | None = None
    gt: Path | None = None
    namespace: str = DEFAULT_NAMESPACE
    no_overlay: bool = False
    skip_output: list = field(default_factory=list)
    save_overlays: int = 10
    max_frames: int = 0
    warmup: int = 1
    tracking: bool | None = None       # None: inference.tracking of the config
    report_every: float = 5.0
    overwrite: bool = False            # replace what an earlier run wrote into out (only those files)
    no_progress: bool = False          # no progress bar (logs, CI)


# what a run writes into --out: --overwrite removes exactly these, never anything else of the folder
RUN_FILES = ("output_bag", "overlays", "report.json", "latency.png")


def run(options: BagEvalOptions, load_pipeline: Callable[[], tuple]) -> dict:
    """Evaluate the bag; load_pipeline() -> (pipeline, PanopticConfig) is called once the bag and the ground truth
    were found readable (a wrong path fails before a slow model load)."""
    topics = [options.topic] if options.topic else None
    out = Path(options.out)
    bag_out = out / "output_bag"
    if bag_out.exists() and not options.overwrite:
        raise FileExistsError(f"{bag_out} exists already: choose another --out, or --overwrite to replace the "
                              "earlier run's files")
    reader = ImageBagReader(options.bag, topics).open()
    try:
        if len(reader.requested) != 1:
            raise BagError(f"bag {options.bag} has several image topics ({', '.join(reader.requested)}): pick one "
                           "with --topic")
        topic = reader.requested[0]
        gt = BagGroundTruth(options.gt) if options.gt is not None else None  # fail early on a bad GT folder
        model, cfg = load_pipeline()
        if options.tracking is not None:
            cfg.inference.tracking = bool(options.tracking)
        reader.max_pixels = cfg.inference.max_input_pixels
        run_state = _EvalRun(options, reader, topic, FrameProcessor(model, cfg), bag_out)
        if gt is not None:
            run_state.pq = BagPQ(gt)
            run_state.channel_map = channel_to_category_ids(gt.categories, model.categories)
        if options.overwrite:
            _remove_run_files(out)
        out.mkdir(parents=True, exist_ok=True)
        return run_state.run()
    finally:
        reader.close()


def _remove_run_files(out: Path) -> None:
    """--overwrite: the files an earlier bag eval wrote into out (RUN_FILES), nothing else."""
    for name in RUN_FILES:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


class _EvalRun:
    """One bag eval: the frame loop, its statistics, and the report written during the run and on any exit."""

    def __init__(self, options: BagEvalOptions, reader: ImageBagReader, topic: str, processor: FrameProcessor,
                 bag_out: Path):
        self.options, self.reader, self.topic = options, reader, topic
        self.processor, self.model, self.cfg = processor, processor.model, processor.cfg
        self.bag_out = bag_out
        self.out = Path(options.out)
        self.overlay_dir = self.out / "overlays"
        runtime = getattr(self.model, "runtime", None)
        self.runtime_name, self.precision = getattr(runtime, "name", None), getattr(runtime, "precision", None)
        self.latency: list[float] = []
        self.model_ms: list[float] = []
        self.tracker_ms: list[float] = []
        self.tracking = bool(self.cfg.inference.tracking)
        self.tracks = StreamTracks() if self.tracking else None
        self.tracker_resets = 0
        self.per_frame: list[dict] = []
        self.failures = FrameFailures()
        self.saved = 0
        self.pq = None
        self.channel_map = None
        self.output_topics: dict = {}
        self.t_start = time.perf_counter()
        self.wall = 0.0
        self.status = "running"
        self.exit_signal: int | None = None

    def run(self) -> dict:
        opts = self.options
        total = self.reader.counts.get(self.topic, 0)
        if opts.max_frames:
            total = min(total, opts.max_frames)
        skip = list(opts.skip_output) + (["overlay"] if opts.no_overlay else [])
        last_write = time.monotonic()
        # the handlers stay installed until the bag is closed and the report written: a signal during the
        # close or the final write is a stop request too (the second one aborts)
        with StopOnSignal() as stop:
            try:
                with OutputBagWriter(self.bag_out, namespace=opts.namespace, exclude=skip) as writer:
                    self.output_topics = writer.names
                    bar = tqdm(total=total, desc="bag eval", unit="frame", disable=opts.no_progress)
                    for n, frame in enumerate(self.reader.frames()):
                        if stop.requested or (opts.max_frames and n >= opts.max_frames):
                            break
                        self._frame(n, frame, writer)
                        bar.update(1)
                        if opts.report_every > 0 and time.monotonic() - last_write >= opts.report_every:
                            self._write_report()
                            last_write = time.monotonic()
                    bar.close()
                if stop.requested:
                    self.status, self.exit_signal = f"interrupted ({stop.name})", stop.signum
                    log.warning("bag eval: %s after %d frames; output bag closed, report written", stop.name,
                                len(self.per_frame))
                else:
                    self.status = "complete"
            except KeyboardInterrupt:
                self.status, self.exit_signal = "interrupted (second signal)", 2
                raise
            except BaseException as exc:
                self.status = f"failed: {type(exc).__name__}: {exc}"
                raise
            finally:
                report = self._write_report(final=True)
        log.info("bag eval: %d frames, %.2f FPS (runtime %s, %s), report in %s", len(self.per_frame),
                 report["fps"] or 0.0, self.runtime_name, self.precision, self.out / "report.json")
        return report

    def _frame(self, n: int, frame, writer: OutputBagWriter) -> None:
        """Predict, write and score one frame; an exception counts as a failed frame and the run goes on."""
        stage = "predict"
        try:
            t0 = time.perf_counter()
            result = self.processor.predict([frame.image])[0]
            t1 = time.perf_counter()
            stage = "track"
            # header stamp as the node uses it; a camera that leaves it zero: the bag's log time
            outs = self.processor.finisher.finish(result, header=frame.header, image=frame.image, tracks=self.tracks,
                                                  stamp=(frame.stamp_ns or frame.log_time_ns) / 1e9)
            t_track = time.perf_counter() - t1
            for reason in self.tracks.resets if self.tracks is not None else ():
                self.tracker_resets += 1
                log.info("tracker reset at frame %d: %s", frame.index, reason)
            result = outs.result
            stage = "outputs"
            messages = writer.build_frame(outs)
            t2 = time.perf_counter()
            writer.write_frame(messages, frame.log_time_ns)
        except Exception as exc:  # one bad frame must not end a 10,000-frame run
            self.failures.add(frame.index, stage, exc)
            return
        if n >= self.options.warmup:
            self.latency.append((t2 - t0) * 1e3)
            self.model_ms.append((t1 - t0) * 1e3)
            if self.tracking:
                self.tracker_ms.append(t_track * 1e3)
        self.per_frame.append({"index": frame.index, "stamp_ns": frame.stamp_ns,
                               "latency_ms": round((t2 - t0) * 1e3, 3), "model_ms": round((t1 - t0) * 1e3, 3),
                               "segments": len(result.segments)})
        try:
            if "overlay" in messages and self.saved < self.options.save_overlays:
                stage = "overlay"
                overlay_rgb = node_outputs.OUTPUTS.get("overlay").decode(messages["overlay"])
                self.overlay_dir.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(self.overlay_dir / f"frame_{frame.index:06d}.jpg"),
                            np.ascontiguousarray(overlay_rgb[..., ::-1]))
                self.saved += 1
            if self.pq is not None:
                stage = "pq"
                self.pq.add(frame.index, frame.stamp_ns, outs.panoptic, result.segments, self.channel_map)
        except Exception as exc:
            self.failures.add(frame.index, stage, exc)

    def _write_report(self, final: bool = False) -> dict:
        self.wall = time.perf_counter() - self.t_start
        frames, inf = len(self.per_frame), self.cfg.inference
        report = {
            "status": self.status, "bag": str(self.options.bag), "storage": self.reader.storage, "topic": self.topic,
            "frames": frames, "skipped": self.reader.skipped.to_dict(), "skipped_too_large": self.reader.too_large,
            "max_input_pixels": inf.max_input_pixels, "failed_frames": self.failures.to_dict(),
            "fps": round(frames / self.wall, 3) if self.wall > 0 and frames else None,
            "fps_model": round(1e3 / float(np.mean(self.latency)), 3) if self.latency else None,
            "warmup_frames": min(self.options.warmup, frames),
            "latency_ms": latency_stats(self.latency), "model_ms": latency_stats(self.model_ms),
            "tracking": self.tracking, "tracker_ms": latency_stats(self.tracker_ms),
            "tracker_resets": self.tracker_resets,
            "inference": {"merge_policy": inf.merge_policy, "input_size": inf.input_size,
                          "score_threshold": inf.score_threshold, "fuse_resolution": inf.fuse_resolution,
                          "device": str(self.model.device), "runtime": self.runtime_name,
                          "precision": self.precision},
            "runtime": self.runtime_name, "precision": self.precision,
            "model": str(self.cfg.node.model or "default"),
            "output_bag": str(self.bag_out), "output_bag_file": str(find_bag_file(self.bag_out)),
            "output_topics": self.output_topics, "overlays": str(self.overlay_dir) if self.saved else None,
            "per_frame": self.per_frame,
        }
        if self.exit_signal is not None:
            report["exit_signal"] = self.exit_signal
        if self.pq is not None:
            report["pq"] = self.pq.summary()
            stq = self.pq.stq_summary()
            if stq is not None:
                report["stq"] = stq
        write_json(self.out / "report.json", report)
        if final:
            plot_latency(self.out / "latency.png",
                         {"frame (predict + outputs)": self.latency, "model.predict": self.model_ms},
                         f"bag eval: {frames} frames of {self.topic}")
        return report
