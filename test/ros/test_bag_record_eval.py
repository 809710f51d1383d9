"""`panoptic bag record-eval`'s Recorder without a ROS graph (issue 11 item 8): its callbacks are fed raw
messages as fast as Python can, scoring is slow, and the publish log never arrives.

Scaled version of "720p outputs at 60 Hz for a minute": 600 frames (10 s of 60 Hz stamps) of 320x180 panoptic +
instances messages fed at ~600 Hz with scoring slowed to 20 ms per frame (50 Hz). What is bounded is the number of
frames held (queue and waiting slots), so the frame size only scales the memory; unbounded, these 600 frames
would hold >= 140 MB. Memory is traced with tracemalloc (numpy arrays included)."""
import json
import time
import tracemalloc
from pathlib import Path

import pytest

from panoptic_ros.ros import outputs as node_outputs
from panoptic_ros.ros.bag import recorder
from panoptic_ros.ros.bag.groundtruth import BagPQ
from panoptic_ros.ros.bag.reader import set_header_stamp
from panoptic_ros.ros.bag.writer import panoptic_typestore
from panoptic_ros.ros.conversions import RosbagsMessages
from panoptic_ros.utils.json_io import write_json

W, H = 320, 180
NODE = "/panoptic_node"


@pytest.fixture(scope="module")
def gt(tmp_path_factory):
    from panoptic_ros.ros.bag.make_sample import make_sample

    out = tmp_path_factory.mktemp("rec")
    make_sample(out, frames=2, width=W, height=H, seed=1)
    return out / "gt"


def _args(tmp_path: Path, gt_dir, publish_log, queue_size: int = 16) -> recorder.RecordOptions:
    return recorder.RecordOptions(out=tmp_path / "rec", node=NODE, skip_output=[], publish_log=publish_log,
                              input_topic=None, gt=gt_dir, no_overlay=True, save_overlays=0, bag_name="record",
                              duration=0.0, idle_timeout=1.0, wait_timeout=1.0, ready_file=None,
                              queue_size=queue_size)


def _raw_outputs(gt_dir: Path) -> dict:
    """Serialized panoptic and instances messages of one frame (the GT of the first sample image)."""
    import importlib.util

    from panoptic_ros.data import read_image

    spec = importlib.util.spec_from_file_location("bag_oracle_model", Path(__file__).with_name("bag_oracle_model.py"))
    oracle_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(oracle_module)
    oracle = oracle_module.OracleModel(gt_dir)
    image = read_image(next(iter(sorted((gt_dir / "images").iterdir()))))
    result = oracle.predict([image])[0]
    assert result.segments
    store = panoptic_typestore()
    kit = RosbagsMessages(store)
    T = store.types
    header = T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=1, nanosec=0), frame_id="cam")
    frame = node_outputs.OutputFrame(result, header, oracle.categories)
    out = {}
    for name in ("panoptic", "instances"):
        o = node_outputs.OUTPUTS.get(name)
        out[name] = bytes(store.serialize_cdr(o.build(frame, kit), o.msgtype))
    return out


def test_fast_outputs_slow_scoring_missing_publish_log_stay_bounded(gt, tmp_path, monkeypatch):
    real_add = BagPQ.add

    def slow_add(self, *a, **kw):
        time.sleep(0.02)
        return real_add(self, *a, **kw)
    monkeypatch.setattr(BagPQ, "add", slow_add)
    raw = _raw_outputs(gt)
    frames = 600
    tracemalloc.start()
    try:
        rec = recorder.Recorder(_args(tmp_path, gt, tmp_path / "never_written.jsonl"))
        on_pan, on_inst = rec.callback("panoptic"), rec.callback("instances")
        base = tracemalloc.get_traced_memory()[0]
        for i in range(frames):
            stamp = 1_000_000_000 + i * 16_666_667            # 60 Hz stamps
            on_pan(set_header_stamp(raw["panoptic"], stamp))
            on_inst(set_header_stamp(raw["instances"], stamp))
            time.sleep(0.001)                                 # ~10x the camera rate, 2.5x the scorer's
        peak_feeding = tracemalloc.get_traced_memory()[1] - base
        rec.finish(drain_timeout=5.0)
        report = rec.report()
    finally:
        tracemalloc.stop()
    write_json(tmp_path / "report.json", report)
    frame_bytes = W * H * 4
    # queue (16) + frames waiting for a pair (16) or a publish-log line (16) + the frame in hand, + slack
    assert peak_feeding < 50 * frame_bytes + 5e6, f"{peak_feeding / 1e6:.1f} MB held while feeding"
    assert report["dropped_messages"]["total"] > 0 and report["queue_size"] == 16
    assert report["pq_frames_evicted"].get("early", 0) > 0   # the missing publish log did not keep every frame
    written = sum(report["messages"].values())
    assert written + report["dropped_messages"]["total"] + report["abandoned_messages"] == 2 * frames
    assert json.loads((tmp_path / "report.json").read_text())["dropped_messages"] == report["dropped_messages"]
    from rosbags.rosbag2 import Reader
    with Reader(report["output_bag"]) as r:    # closed after the worker stopped: metadata written, readable
        assert sum(1 for _ in r.messages()) == written


def test_bad_gt_is_refused_before_the_output_bag_exists(gt, tmp_path):
    bad = tmp_path / "not_gt"
    bad.mkdir()
    args = _args(tmp_path, bad, None)
    with pytest.raises((FileNotFoundError, ValueError)):
        recorder.Recorder(args)
    assert not (args.out / "record").exists()
    rec = recorder.Recorder(_args(tmp_path, gt, None))   # the next run with the same --out works
    rec.finish()
    assert (args.out / "record" / "metadata.yaml").is_file()


def test_publish_log_must_be_a_file(gt, tmp_path):
    (tmp_path / "log_dir").mkdir()
    args = _args(tmp_path, None, tmp_path / "log_dir")
    with pytest.raises(ValueError, match="is not a file"):
        recorder.Recorder(args)
    assert not (args.out / "record").exists()


def test_malformed_publish_log_lines_are_skipped_and_counted(tmp_path):
    path = tmp_path / "publish.jsonl"
    path.write_text('{"stamp_ns": 5, "publish_ns": 7, "index": 0}\nnot json\n[1, 2]\n{"index": 3}\n'
                    '{"stamp_ns": "x"}\n{"stamp_ns": 6, "publish_ns": 9, "index": 1}\n{"done": true}\n')
    log = recorder.PublishLog(path)
    log.poll()
    assert sorted(log.entries) == [5, 6] and log.malformed == 4 and log.done == {"done": True}


def test_under_load_the_queue_keeps_room_for_what_scoring_needs(gt, tmp_path, monkeypatch):
    """With the worker stuck, semantic/overlay messages are dropped once the queue is half full, panoptic and
    instances only when it is full; every drop is counted per output."""
    import threading

    raw = _raw_outputs(gt)
    release, busy = threading.Event(), threading.Event()
    real_handle = recorder.Recorder._handle

    def stuck_handle(self, *item):
        busy.set()
        release.wait(10)
        return real_handle(self, *item)
    monkeypatch.setattr(recorder.Recorder, "_handle", stuck_handle)
    rec = recorder.Recorder(_args(tmp_path, None, None, queue_size=4))
    rec.callback("panoptic")(raw["panoptic"])                 # taken by the worker, which then hangs
    assert busy.wait(10)
    for _ in range(4):
        rec.callback("semantic")(raw["panoptic"])             # same message type and header
    for _ in range(3):
        rec.callback("instances")(raw["instances"])
    assert dict(rec.dropped) == {"semantic": 2, "instances": 1}
    release.set()
    rec.finish()
    report = rec.report()
    assert report["dropped_messages"] == {"total": 3, "by_output": {"semantic": 2, "instances": 1}}
    assert sum(report["messages"].values()) == 1 + 2 + 2
