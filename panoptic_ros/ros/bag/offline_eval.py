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
--model --policy --runtime --precision --device. The model runs on the same pipeline as the node.
No ROS graph is needed: only the rosbags library.

One bad frame never ends the run: unreadable records and frames above inference.max_input_pixels are skipped
before decoding (report "skipped"), and a frame whose processing raises (model error, ground truth of another
size, a category the ground truth does not know) is counted under "failed_frames" by reason. SIGINT and
SIGTERM stop after the frame in hand: the output bag is closed (readable) and the report says "interrupted";
the exit code is then 128 + the signal number.
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from .. import outputs as node_outputs
from .reader import BagError, ImageBagReader
from .report import FrameFailures, latency_stats, plot_latency, write_json
from .signals import StopOnSignal
from .writer import DEFAULT_NAMESPACE, OutputBagWriter, find_bag_file

log = logging.getLogger(__name__)


SECTIONS = ("inference", "node")   # what bag eval reads from --config / overrides (node: model, overlay_alpha)


def add_arguments(p) -> None:
    from ...cli.options import add_config_options

    p.add_argument("--bag", required=True, help="rosbag2 directory, .mcap or .db3 file")
    p.add_argument("--topic", default=None,
                   help="image topic (sensor_msgs/Image or CompressedImage); may be left out when the bag has one")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--gt", type=Path, default=None,
                   help="ground truth in COCO panoptic layout (DIR/panoptic.json, DIR/panoptic/) -> PQ/SQ/RQ")
    add_config_options(p, flags=("model", "policy", "runtime", "precision", "device"),
                       flag_help={"model": "model file (.safetensors with its .json, .onnx, OpenVINO .xml); "
                                           "default: the shipped model",
                                  "policy": "merge policy (default: the checkpoint's)"})
    p.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="namespace of the output topics")
    p.add_argument("--no-overlay", action="store_true", help="do not render/write the overlay topic")
    p.add_argument("--skip-output", action="append", default=[], metavar="NAME",
                   help="leave an output topic out of the bag (repeatable; --no-overlay = --skip-output overlay)")
    p.add_argument("--save-overlays", type=int, default=10, metavar="N", help="overlay JPEGs to keep (0 = none)")
    p.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0 = all)")
    p.add_argument("--warmup", type=int, default=1, help="first frames left out of the latency statistics")
    p.add_argument("--tracking", action=argparse.BooleanOptionalAction, default=None,
                   help="stable segment ids across frames (default: inference.tracking, on)")
    p.add_argument("--report-every", type=float, default=5.0, metavar="S",
                   help="rewrite report.json every S seconds during the run (0 = only at the end)")


def run(args) -> dict:
    from ...cli.options import pipeline_from_args
    from .groundtruth import BagGroundTruth, BagPQ, channel_to_category_ids

    topics = [args.topic] if args.topic else None
    out: Path = args.out
    bag_out = out / "output_bag"
    if bag_out.exists():
        raise FileExistsError(f"{bag_out} exists already: choose another --out or remove it")
    reader = ImageBagReader(args.bag, topics).open()
    try:
        if len(reader.requested) != 1:
            raise BagError(f"bag {args.bag} has several image topics ({', '.join(reader.requested)}): pick one "
                           "with --topic")
        topic = reader.requested[0]
        gt = BagGroundTruth(args.gt) if args.gt is not None else None  # fail early on a bad GT folder
        model, cfg = pipeline_from_args(args, SECTIONS)
        if getattr(args, "tracking", None) is not None:
            cfg.inference.tracking = bool(args.tracking)
        reader.max_pixels = cfg.inference.max_input_pixels
        run_state = _EvalRun(args, reader, topic, model, cfg, bag_out)
        if gt is not None:
            run_state.pq = BagPQ(gt)
            run_state.channel_map = channel_to_category_ids(gt.categories, model.categories)
        out.mkdir(parents=True, exist_ok=True)
        return run_state.run()
    finally:
        reader.close()


class _EvalRun:
    """One bag eval: the frame loop, its statistics, and the report written during the run and on any exit."""

    def __init__(self, args, reader: ImageBagReader, topic: str, model, cfg, bag_out: Path):
        self.args, self.reader, self.topic, self.model, self.cfg = args, reader, topic, model, cfg
        self.bag_out = bag_out
        self.overlay_dir = args.out / "overlays"
        runtime = getattr(model, "runtime", None)
        self.runtime_name, self.precision = getattr(runtime, "name", None), getattr(runtime, "precision", None)
        self.latency: list[float] = []
        self.model_ms: list[float] = []
        self.tracker_ms: list[float] = []
        self.tracker = None
        self.tracker_resets = 0
        if cfg.inference.tracking:
            from ...tracking import PanopticTracker
            self.tracker = PanopticTracker(cfg.inference, model.categories)
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
        from tqdm import tqdm

        args = self.args
        total = self.reader.counts.get(self.topic, 0)
        if args.max_frames:
            total = min(total, args.max_frames)
        skip = list(args.skip_output) + (["overlay"] if args.no_overlay else [])
        last_write = time.monotonic()
        # the handlers stay installed until the bag is closed and the report written: a signal during the
        # close or the final write is a stop request too (the second one aborts)
        with StopOnSignal() as stop:
            try:
                with OutputBagWriter(self.bag_out, namespace=args.namespace, exclude=skip) as writer:
                    self.output_topics = writer.names
                    bar = tqdm(total=total, desc="bag eval", unit="frame")
                    for n, frame in enumerate(self.reader.frames()):
                        if stop.requested or (args.max_frames and n >= args.max_frames):
                            break
                        self._frame(n, frame, writer)
                        bar.update(1)
                        if args.report_every > 0 and time.monotonic() - last_write >= args.report_every:
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
                 report["fps"] or 0.0, self.runtime_name, self.precision, args.out / "report.json")
        return report

    def _frame(self, n: int, frame, writer: OutputBagWriter) -> None:
        """Predict, write and score one frame; an exception counts as a failed frame and the run goes on."""
        import cv2
        import numpy as np

        stage = "predict"
        try:
            t0 = time.perf_counter()
            result = self.model.predict([frame.image], inference=self.cfg.inference)[0]
            t1 = time.perf_counter()
            if self.tracker is not None:
                stage = "track"
                # header stamp as the node uses it; a camera that leaves it zero: the bag's log time
                result = self.tracker.update(result, (frame.stamp_ns or frame.log_time_ns) / 1e9)
                if self.tracker.last_reset:
                    self.tracker_resets += 1
                    log.info("tracker reset at frame %d: %s", frame.index, self.tracker.last_reset)
            t_track = time.perf_counter() - t1
            stage = "outputs"
            outs = node_outputs.OutputFrame(result, frame.header, self.model.categories, frame.image,
                                            self.cfg.node.overlay_alpha)
            messages = writer.build_frame(outs)
            t2 = time.perf_counter()
            writer.write_frame(messages, frame.log_time_ns)
        except Exception as exc:  # one bad frame must not end a 10,000-frame run
            self.failures.add(frame.index, stage, exc)
            return
        if n >= self.args.warmup:
            self.latency.append((t2 - t0) * 1e3)
            self.model_ms.append((t1 - t0) * 1e3)
            if self.tracker is not None:
                self.tracker_ms.append(t_track * 1e3)
        self.per_frame.append({"index": frame.index, "stamp_ns": frame.stamp_ns,
                               "latency_ms": round((t2 - t0) * 1e3, 3), "model_ms": round((t1 - t0) * 1e3, 3),
                               "segments": len(result.segments)})
        try:
            if "overlay" in messages and self.saved < self.args.save_overlays:
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
        import numpy as np

        self.wall = time.perf_counter() - self.t_start
        frames, inf = len(self.per_frame), self.cfg.inference
        report = {
            "status": self.status, "bag": str(self.args.bag), "storage": self.reader.storage, "topic": self.topic,
            "frames": frames, "skipped": self.reader.skipped.to_dict(), "skipped_too_large": self.reader.too_large,
            "max_input_pixels": inf.max_input_pixels, "failed_frames": self.failures.to_dict(),
            "fps": round(frames / self.wall, 3) if self.wall > 0 and frames else None,
            "fps_model": round(1e3 / float(np.mean(self.latency)), 3) if self.latency else None,
            "warmup_frames": min(self.args.warmup, frames),
            "latency_ms": latency_stats(self.latency), "model_ms": latency_stats(self.model_ms),
            "tracking": self.tracker is not None, "tracker_ms": latency_stats(self.tracker_ms),
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
        write_json(self.args.out / "report.json", report)
        if final:
            plot_latency(self.args.out / "latency.png",
                         {"frame (predict + outputs)": self.latency, "model.predict": self.model_ms},
                         f"bag eval: {frames} frames of {self.topic}")
        return report
