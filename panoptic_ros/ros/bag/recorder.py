"""The recording side of `panoptic bag record-eval`, without ROS: arrivals stamped by the subscription callbacks,
raw messages handed to one worker thread (bounded queue) that writes the bag, saves overlays and scores PQ / STQ,
and the report. Why apart from record_eval.py: this is the part that must stay bounded in memory and is tested
with serialized messages, no graph.

Memory stays bounded however fast the node publishes and however slow scoring is: the callbacks only stamp
arrivals and hand raw messages to the worker through a queue of --queue-size messages (when it is full the
message is dropped and counted in "dropped_messages"; semantic and overlay messages already when it is half
full, keeping room for what scoring needs); for PQ only the panoptic label image and the segment list of a
frame are kept, at most MAX_WAITING frames waiting for their pair or their publish-log line (the oldest is then
scored with the header stamp as its key, as at the end of a run).
"""
from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import outputs as node_outputs
from .groundtruth import BagGroundTruth, BagPQ, channel_to_category_ids
from .reader import header_stamp_ns
from .report import latency_stats
from .writer import DEFAULT_NAMESPACE, BagWriter, find_bag_file, panoptic_typestore

log = logging.getLogger(__name__)


@dataclass
class RecordOptions:
    """One `panoptic bag record-eval` run (the options are described in cli/bag.py)."""
    out: Path
    node: str = DEFAULT_NAMESPACE
    skip_output: list = field(default_factory=list)
    publish_log: Path | None = None
    input_topic: str | None = None
    gt: Path | None = None
    no_overlay: bool = False
    save_overlays: int = 10
    bag_name: str = "record"
    duration: float = 0.0
    idle_timeout: float = 5.0
    wait_timeout: float = 60.0
    ready_file: Path | None = None
    queue_size: int = 32


class PublishLog:
    """Incremental reader of the player's JSON-lines publish log."""

    def __init__(self, path: Path | None):
        self.path = path
        self._lock = threading.Lock()
        self._pos = 0
        self._partial = ""
        self.entries: dict[int, dict] = {}     # published stamp -> entry
        self.done: dict | None = None
        self.done_time = None
        self.malformed = 0                     # lines that are not a JSON object with an integer stamp_ns

    def poll(self) -> None:
        if self.path is None or not self.path.is_file():
            return
        with self._lock:
            self._poll()

    def stamps(self) -> set[int]:
        with self._lock:
            return set(self.entries)

    def lookup(self, stamp: int) -> dict | None:
        """The log entry of a published stamp (reads new lines first when it is not known yet)."""
        if stamp not in self.entries:
            self.poll()
        return self.entries.get(stamp)

    def _poll(self) -> None:
        with open(self.path) as f:
            f.seek(self._pos)
            chunk = f.read()
            self._pos = f.tell()
        lines = (self._partial + chunk).split("\n")
        self._partial = lines.pop()
        for line in lines:
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict):
                    raise TypeError(f"a JSON {type(entry).__name__}, not an object")
                if entry.get("done"):
                    self.done = entry
                    self.done_time = time.monotonic()
                else:
                    self.entries[int(entry["stamp_ns"])] = entry
            except (ValueError, KeyError, TypeError) as exc:
                self.malformed += 1
                if self.malformed <= 3 or self.malformed % 100 == 0:
                    log.warning("publish log %s: skipping malformed line (%d so far): %s: %.80s", self.path,
                                self.malformed, type(exc).__name__, line)


MAX_WAITING = 16     # frames kept for PQ while waiting for their instances / their publish-log line
SCORED = ("panoptic", "instances")   # the outputs PQ / STQ need (and latency: panoptic)


def check_inputs(args: RecordOptions) -> None:
    """Bad --gt / --publish-log / --queue-size are errors before any output file is created (a half-created bag
    would block the next run with the same --out)."""
    if args.queue_size < 1:
        raise ValueError(f"--queue-size must be at least 1, got {args.queue_size}")
    log_path = args.publish_log
    if log_path is not None and log_path.exists() and not log_path.is_file():
        raise ValueError(f"--publish-log {log_path} is not a file")
    bag_path = args.out / args.bag_name
    if bag_path.exists():
        raise FileExistsError(f"output bag {bag_path} exists already; remove it or choose another --out / --bag-name")


class Recorder:
    """Callbacks stamp arrivals and queue raw messages; a worker thread writes, decodes and scores them."""

    def __init__(self, args: RecordOptions):
        self.args = args
        skip = list(args.skip_output) + (["overlay"] if args.no_overlay else [])
        self.entries = {o.name: o for o in node_outputs.select(skip)}    # output name -> its definition
        if "panoptic" not in self.entries:
            raise ValueError("record-eval times frames by their panoptic output: it cannot be skipped")
        self.names = node_outputs.topics(args.node, self.entries.values())     # output name -> topic
        check_inputs(args)
        self.pq = None
        if args.gt is not None and {"panoptic", "instances"} <= set(self.entries):
            self.gt = BagGroundTruth(args.gt)   # a bad GT folder fails here, before the bag exists
            self.pq = BagPQ(self.gt)
        self.pub_log = PublishLog(args.publish_log)
        self.pub_log.poll()
        self.store = panoptic_typestore()
        args.out.mkdir(parents=True, exist_ok=True)
        self.bag_path = args.out / args.bag_name
        self.writer = BagWriter(self.bag_path, {self.names[n]: o.msgtype for n, o in self.entries.items()},
                                store=self.store).open()
        self.overlay_dir = args.out / "overlays"
        self.input_arrivals: dict[int, int] = {}     # stamp -> arrival ns of the input (no publish log)
        self.outputs: dict[int, int] = {}            # stamp -> arrival ns of its panoptic (worker, under _lock)
        self.pending: dict[int, dict] = {}           # stamp -> decoded panoptic / segments waiting for the pair
        self.unscored: dict[int, tuple] = {}         # stamp -> (panoptic, segments) not yet in the publish log
        self.arrived: dict[int, int] = {}            # stamp -> bit mask of the outputs seen (executor thread)
        self._bit = {name: 1 << i for i, name in enumerate(self.names)}
        self.all_outputs = (1 << len(self.names)) - 1     # per frame: two small ints, not a dict and a set
        self.q: queue.Queue = queue.Queue(maxsize=args.queue_size)
        self.dropped: Counter = Counter()            # output name -> messages dropped on a full queue
        self._incomplete: OrderedDict = OrderedDict()   # recent stamps whose panoptic or instances was dropped
        self.evicted = Counter()                     # "unpaired": no instances came; "early": scored before its log
        self.last_arrival = None
        self.saved_overlays = 0
        self.errors = 0
        self.abandoned = 0
        self.labels: dict[int, str] = {}
        self._lock = threading.Lock()
        self._closing = False
        self._abandon = threading.Event()
        self._worker = threading.Thread(target=self._work, name="record-eval-worker", daemon=True)
        self._worker.start()

    # --- executor thread: cheap ------------------------------------------------------------------
    def callback(self, key: str):
        def on_message(raw: bytes) -> None:
            now = time.time_ns()
            self.last_arrival = time.monotonic()
            try:
                stamp = header_stamp_ns(raw)
                self.arrived[stamp] = self.arrived.get(stamp, 0) | self._bit[key]
            except ValueError:
                stamp = None
            if self._closing:
                return
            try:
                if key not in SCORED and self.q.qsize() >= self.q.maxsize // 2:
                    raise queue.Full   # under load the second half of the queue is kept for what PQ needs
                self.q.put_nowait((key, now, raw))
            except queue.Full:   # the worker is behind: drop rather than grow without limit
                self.dropped[key] += 1
                if stamp is not None and key in SCORED:
                    self._incomplete[stamp] = None      # its partner need not wait for scoring
                    while len(self._incomplete) > 4096:
                        self._incomplete.popitem(last=False)
                n = sum(self.dropped.values())
                if n == 1 or n % 100 == 0:
                    log.warning("record-eval: queue of %d messages full, %d message(s) dropped so far (scoring "
                                "or disk slower than the node's output)", self.q.maxsize, n)
        return on_message

    def on_input(self, raw: bytes) -> None:
        now = time.time_ns()
        try:
            self.input_arrivals.setdefault(header_stamp_ns(raw), now)
        except ValueError:
            pass

    # --- worker thread -------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            item = self.q.get()
            if item is None:
                return
            if self._abandon.is_set():
                self.abandoned += 1
                continue
            try:
                self._handle(*item)
            except Exception as exc:  # a malformed output must not end the recording
                self.errors += 1
                log.warning("could not process a %s message: %s", item[0], exc)

    def _handle(self, key: str, arrival_ns: int, raw: bytes) -> None:
        self.writer.write(self.names[key], arrival_ns, raw)
        stamp = header_stamp_ns(raw)
        with self._lock:
            if key == "panoptic":
                self.outputs.setdefault(stamp, arrival_ns)
        if key == "overlay" and self.saved_overlays < self.args.save_overlays:
            self._save_overlay(stamp, raw)
        if self.pq is not None and key in ("panoptic", "instances"):
            if stamp in self._incomplete:   # the other half was dropped: this frame cannot be scored
                self.evicted["partner_dropped"] += 1
                self.pending.pop(stamp, None)
                return
            slot = self.pending.setdefault(stamp, {})
            slot[key] = self._decode_for_pq(key, raw)       # keep what scoring needs, not the message
            if "panoptic" in slot and "instances" in slot:
                del self.pending[stamp]
                self._queue_score(stamp, slot["panoptic"], slot["instances"])
            while len(self.pending) > MAX_WAITING:          # its pair was dropped or never came
                del self.pending[next(iter(self.pending))]
                self.evicted["unpaired"] += 1

    def _decode(self, key: str, raw: bytes):
        output = self.entries[key]
        return output.decode(self.store.deserialize_cdr(raw, output.msgtype))

    def _save_overlay(self, stamp: int, raw: bytes) -> None:
        import cv2

        rgb = self._decode("overlay", raw)
        self.overlay_dir.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(self.overlay_dir / f"overlay_{stamp}.jpg"), np.ascontiguousarray(rgb[..., ::-1]))
        self.saved_overlays += 1

    def _decode_for_pq(self, key: str, raw: bytes):
        if key == "panoptic":
            return np.ascontiguousarray(self._decode("panoptic", raw))
        records = self._decode("instances", raw)
        for r in records:
            self.labels.setdefault(r["class_index"], r["label"])
        return [{"id": r["id"], "category_id": r["class_index"]} for r in records]   # segments: channel index

    def _queue_score(self, stamp: int, panoptic: np.ndarray, segments: list) -> None:
        if self._score_frame(stamp, panoptic, segments, final=False):
            return
        self.unscored[stamp] = (panoptic, segments)
        while len(self.unscored) > MAX_WAITING:   # its publish-log line is late or missing: score it as at the end
            old = next(iter(self.unscored))
            self._score_frame(old, *self.unscored.pop(old), final=True)
            self.evicted["early"] += 1

    def _score_frame(self, stamp: int, panoptic: np.ndarray, segments: list, final: bool) -> bool:
        """Add one received frame to PQ; False (try again later) while its publish-log line is missing."""
        index, bag_stamp = None, stamp
        if self.args.publish_log is not None:
            entry = self.pub_log.lookup(stamp)
            if entry is None and not final:
                return False
            entry = entry or {}
            index, bag_stamp = entry.get("index"), entry.get("bag_stamp_ns", stamp)
        channel_map = channel_to_category_ids(self.gt.categories, labels=self.labels)
        try:
            self.pq.add(index, bag_stamp, panoptic, segments, channel_map)
        except Exception as exc:
            self.errors += 1
            log.warning("could not score the frame of stamp %d: %s", stamp, exc)
        return True

    def finish(self, drain_timeout: float = 60.0) -> None:
        """Stop the worker (it drains the queue, or gives up after drain_timeout), then close the bag: the bag
        is never closed while the worker may still write to it."""
        self._closing = True
        deadline = time.monotonic() + drain_timeout
        while self._worker.is_alive():
            try:
                self.q.put(None, timeout=0.2)
                break
            except queue.Full:
                if time.monotonic() > deadline:
                    self._abandon.set()   # the worker discards what is left
        self._worker.join(max(0.0, deadline - time.monotonic()))
        if self._worker.is_alive():
            log.warning("record-eval: writing/scoring did not catch up in %.0f s; discarding the rest", drain_timeout)
            self._abandon.set()
            self._worker.join()
        self.writer.close()

    # --- results ----------------------------------------------------------------------------------------
    def report(self) -> dict:
        self.pub_log.poll()
        use_log = self.args.publish_log is not None
        sent_times = {s: e["publish_ns"] for s, e in self.pub_log.entries.items() if "publish_ns" in e} if use_log \
            else dict(self.input_arrivals)
        with self._lock:
            outputs = sorted(self.outputs.items())
        frames = []
        for stamp, arrival in outputs:
            entry = self.pub_log.entries.get(stamp, {})
            sent = sent_times.get(stamp)
            frames.append({"stamp_ns": stamp, "index": entry.get("index"),
                           "latency_ms": None if sent is None else round((arrival - sent) / 1e6, 3),
                           "arrival_ns": arrival})
        matched = [f for f in frames if f["latency_ms"] is not None]
        n_sent = len(sent_times)
        arrivals = sorted(f["arrival_ns"] for f in matched)
        span = (arrivals[-1] - arrivals[0]) / 1e9 if len(arrivals) > 1 else 0.0
        pubs = sorted(sent_times.values())
        pub_span = (pubs[-1] - pubs[0]) / 1e9 if len(pubs) > 1 else 0.0
        report = {
            "node": self.args.node,
            "publish_times": "publish log" if use_log else ("input arrival" if self.args.input_topic else "none"),
            "frames_sent": n_sent,
            "frames_received": len(matched),
            "outputs_without_input": len(frames) - len(matched),
            "drop_rate": round(1.0 - len(matched) / n_sent, 4) if n_sent else None,
            "throughput_fps": round((len(arrivals) - 1) / span, 3) if span > 0 else None,
            "input_fps": round((len(pubs) - 1) / pub_span, 3) if pub_span > 0 else None,
            "latency_ms": latency_stats(f["latency_ms"] for f in matched),
            "messages": dict(self.writer.counts),
            "queue_size": self.q.maxsize,
            "dropped_messages": {"total": sum(self.dropped.values()), "by_output": dict(self.dropped)},
            "abandoned_messages": self.abandoned,
            "pq_frames_evicted": dict(self.evicted),
            "publish_log_malformed_lines": self.pub_log.malformed,
            "processing_errors": self.errors,
            "output_bag": str(self.bag_path),
            "output_bag_file": str(find_bag_file(self.bag_path)),
            "overlays": str(self.overlay_dir) if self.saved_overlays else None,
            "per_frame": frames,
        }
        if self.pq is not None:
            report["pq"] = self._score()
            stq = self.pq.stq_summary()   # a video ground truth (make-sample --sequence): STQ and ID switches
            if stq is not None:
                report["stq"] = stq
        return report

    def _score(self) -> dict:
        for stamp, (pan, segments) in list(self.unscored.items()):
            self._score_frame(stamp, pan, segments, final=True)
        self.unscored.clear()
        return self.pq.summary()
