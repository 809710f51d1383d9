"""`panoptic bag eval` under faults (issue 11): bad frames are counted and the run goes on (item 6), the report
is written during the run and survives a crash (item 6), SIGTERM leaves a readable partial bag (item 7), frames
above inference.max_input_pixels are skipped before decoding (item 1). No ROS graph: rosbags only."""
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from panoptic_ros.cli.main import main
from panoptic_ros.ros.bag.reader import COMPRESSED, IMAGE, ImageBagReader
from panoptic_ros.ros.bag.writer import BagWriter

HERE = Path(__file__).resolve().parent
W, H = 96, 64
TOPIC = "/camera/image_raw"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    from panoptic_ros.ros.bag.make_sample import make_sample

    out = tmp_path_factory.mktemp("faults")
    make_sample(out, frames=30, width=W, height=H, seed=5)
    return out


def _oracle(monkeypatch, **options):
    """bag eval's model becomes the oracle (the GT of each frame) with the given faults."""
    import importlib.util

    import panoptic_ros.pipeline as pipeline

    spec = importlib.util.spec_from_file_location("bag_oracle_model", HERE / "bag_oracle_model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(pipeline, "build_pipeline", lambda source=None, **kwargs: mod.load(source, **options))


def _bag_subset(src: Path, dst: Path, frames: int) -> Path:
    with ImageBagReader(src) as r, BagWriter(dst, {TOPIC: IMAGE}) as w:
        for rec in r.records():
            if rec.index < frames:
                w.write(TOPIC, rec.log_time_ns, rec.data)
    return dst


def test_failed_frames_are_counted_by_reason_and_the_run_goes_on(sample, tmp_path, monkeypatch):
    """Frame 2: the model raises (network error); frame 4: its GT names a category the GT does not define;
    frame 5: GT of another size. The other frames are evaluated (PQ exactly 1 with the oracle) and everything
    is reported."""
    import shutil

    from panoptic_ros.data import read_panoptic_png, write_panoptic_png

    gt = tmp_path / "gt"
    shutil.copytree(sample / "gt", gt)
    meta = json.loads((gt / "panoptic.json").read_text())
    ann = {a["image_id"]: a for a in meta["annotations"]}   # frame i (0-based) is image id i + 1
    ann[5]["segments_info"][0]["category_id"] = 77
    (gt / "panoptic.json").write_text(json.dumps(meta))
    ann5 = ann[6]
    png = gt / "panoptic" / ann5["file_name"]
    write_panoptic_png(png, read_panoptic_png(png)[: H // 2, : W // 2])
    bag = _bag_subset(sample / "sample_bag", tmp_path / "bag", 7)
    # the oracle recognises frames by pixels: its GT folder stays the untouched one
    _oracle(monkeypatch, fail_calls={3})
    out = tmp_path / "eval"
    assert main(["bag", "eval", "--bag", str(bag), "--gt", str(gt), "--out", str(out), "--model", str(sample / "gt"),
                 "--no-overlay"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "complete"
    assert report["frames"] == 6 and [f["index"] for f in report["per_frame"]] == [0, 1, 3, 4, 5, 6]
    failed = report["failed_frames"]
    assert failed["total"] == 3
    assert failed["by_reason"] == {"predict: RuntimeError": 1, "pq: PQInputError": 1, "pq: ValueError": 1}
    messages = {e["index"]: e["message"] for e in failed["examples"]}
    assert "simulated network error" in messages[2]
    assert "unknown category_id 77" in messages[4]
    assert f"is {W}x{H} but its ground truth" in messages[5]
    assert report["pq"]["frames_with_gt"] == 4 and report["pq"]["All"]["pq"] == pytest.approx(1.0, abs=1e-12)
    from rosbags.rosbag2 import Reader
    with Reader(report["output_bag"]) as r:
        counts = {c.topic: c.msgcount for c in r.connections}
    assert counts["/panoptic_node/panoptic"] == 6


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG header declaring width x height (RGB, 8 bit) with one small IDAT chunk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + \
        chunk(b"IEND", b"")


def test_frames_above_max_input_pixels_are_skipped_before_decoding(sample, tmp_path, monkeypatch):
    """Issue 11 item 1 for bag eval: a small PNG declaring 12000x12000 and a raw frame whose fields declare
    8000x8000 are skipped and counted as too large (never decoded); the normal frames around them are answered."""
    import cv2

    from panoptic_ros.ros.bag.make_sample import image_message

    decoded_sizes = []
    real_imdecode = cv2.imdecode

    def spy(buf, flags):
        img = real_imdecode(buf, flags)
        decoded_sizes.append(None if img is None else img.shape[:2])
        return img
    monkeypatch.setattr(cv2, "imdecode", spy)

    with ImageBagReader(sample / "sample_bag") as r:
        frames = [f for f in r.frames()][:3]
    bag = tmp_path / "bag"
    comp = TOPIC + "/compressed"
    with BagWriter(bag, {comp: COMPRESSED, TOPIC: IMAGE}) as w:
        T = w.store.types
        for i, f in enumerate(frames):
            w.write(comp, 10 * i, image_message(T, f.header, f.image, "png"))
        huge = T[COMPRESSED](header=frames[0].header, format="png", data=np.frombuffer(_png_declaring(12000, 12000),
                                                                                        np.uint8))
        w.write(comp, 15, huge)
        raw = image_message(T, frames[0].header, frames[0].image, "rgb8")
        raw.height, raw.width, raw.step = 8000, 8000, 24000
        w.write(TOPIC, 16, raw)
    for topic, expected in ((comp, 3), (TOPIC, 0)):
        out = tmp_path / f"eval{expected}"
        _oracle(monkeypatch)
        assert main(["bag", "eval", "--bag", str(bag), "--topic", topic, "--out", str(out), "--model",
                     str(sample / "gt"), "--no-overlay"]) == 0
        report = json.loads((out / "report.json").read_text())
        assert report["frames"] == expected and report["skipped_too_large"] == 1
        assert report["max_input_pixels"] == 4096 * 4096
        assert report["skipped"]["total"] == 1 and report["skipped"]["examples"][0]["reason"].startswith("too large")
        assert "exceeds max_input_pixels" in report["skipped"]["examples"][0]["reason"]
    assert decoded_sizes == [(H, W)] * 3   # the 12000x12000 PNG never reached cv2.imdecode
    # the limit is a setting: below the sample's size every frame is skipped
    out = tmp_path / "small_limit"
    assert main(["bag", "eval", "--bag", str(bag), "--topic", comp, "--out", str(out), "--model", str(sample / "gt"),
                 "--no-overlay", f"inference.max_input_pixels={W * H - 1}"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["frames"] == 0 and report["skipped_too_large"] == 4


RUNNER = """
import sys
sys.path.insert(0, {here!r})
import bag_oracle_model
import panoptic_ros.pipeline as pipeline
pipeline.build_pipeline = lambda source=None, **kw: bag_oracle_model.load(source, delay={delay})
from panoptic_ros.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _start_slow_eval(sample: Path, out: Path, tmp_path: Path, delay: float = 0.25) -> subprocess.Popen:
    script = tmp_path / "run_eval.py"
    script.write_text(RUNNER.format(here=str(HERE), delay=delay))
    log = open(tmp_path / "eval.log", "w")
    return subprocess.Popen([sys.executable, str(script), "bag", "eval", "--bag", str(sample / "sample_bag"), "--gt",
                             str(sample / "gt"), "--out", str(out), "--model", str(sample / "gt"), "--no-overlay",
                             "--report-every", "0.2"], stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))


def _wait_for_frames(proc: subprocess.Popen, report: Path, frames: int, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if report.is_file():
            data = json.loads(report.read_text())   # written atomically: always complete JSON
            if data["frames"] >= frames:
                return data
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"no report with {frames} frames (exit {proc.poll()})")


def test_report_is_written_during_the_run_and_survives_a_crash(sample, tmp_path):
    """Killed without warning (SIGKILL: no handler runs) after some frames, the statistics so far are on disk."""
    out = tmp_path / "eval"
    proc = _start_slow_eval(sample, out, tmp_path)
    _wait_for_frames(proc, out / "report.json", 3)
    proc.kill()
    proc.wait(30)
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "running" and 3 <= report["frames"] < 30
    assert len(report["per_frame"]) == report["frames"] and report["pq"]["frames_with_gt"] >= 2
    assert report["pq"]["All"]["pq"] == pytest.approx(1.0, abs=1e-12)


def test_sigterm_stops_cleanly_with_a_readable_partial_bag(sample, tmp_path):
    """SIGTERM (handled as SIGINT, by the same handler): the frame in hand finishes, the output bag is closed with
    its metadata (rosbags' Reader opens it), the report says interrupted, exit code 128 + 15."""
    from rosbags.rosbag2 import Reader

    sig = signal.SIGTERM
    out = tmp_path / "eval"
    proc = _start_slow_eval(sample, out, tmp_path)
    _wait_for_frames(proc, out / "report.json", 2)
    proc.send_signal(sig)
    assert proc.wait(60) == 128 + sig, (tmp_path / "eval.log").read_text()[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == f"interrupted ({signal.Signals(sig).name})" and report["exit_signal"] == sig
    assert 2 <= report["frames"] < 30
    assert (out / "output_bag" / "metadata.yaml").is_file()
    with Reader(out / "output_bag") as r:
        counts = {c.topic: c.msgcount for c in r.connections}
        assert sum(1 for _ in r.messages()) == sum(counts.values())
    assert counts["/panoptic_node/panoptic"] == report["frames"] == report["pq"]["frames_with_gt"]
    assert "Traceback" not in (tmp_path / "eval.log").read_text()
