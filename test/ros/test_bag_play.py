"""`panoptic bag play` + `panoptic bag record-eval` through a real ROS 2 graph with panoptic_node.

Separate processes (node, player, recorder) on this module's private ROS_DOMAIN_ID (conftest.ros_domain).
The node runs the test-only oracle model (bag_oracle_model.py: returns each sample frame's ground truth), so
the recorder's PQ must be exactly 1.0 on every frame it received: that checks stamps survive the graph and the
stamp -> bag index -> GT mapping end to end. 640x480 frames (camera size), mcap and sqlite3 sample bags.
"""
import json
import os
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.ros

FRAMES = 6
TOPIC = "/camera/image_raw"


@pytest.fixture(scope="module")
def sample_bags(tmp_path_factory):
    from panoptic_ros.ros.bag.make_sample import make_sample

    root = tmp_path_factory.mktemp("play_samples")
    for storage in ("mcap", "sqlite3"):
        make_sample(root / storage, frames=FRAMES, width=640, height=480, seed=5, storage=storage, fps=10.0)
    return root


@pytest.fixture(scope="module")
def oracle_node(node_launcher, sample_bags):
    """panoptic_node with the oracle model of the mcap sample (both samples share seed 5: same images)."""
    return node_launcher({"model": str(sample_bags / "mcap" / "gt")}, remaps=[f"image:={TOPIC}"],
                         factory="bag_oracle_model:load")


def _cli(*args):
    return [sys.executable, "-m", "panoptic_ros.cli.main", "bag", *map(str, args)]


def _run_session(tmp_path, bag, *, player_args=(), recorder_args=(), use_log=True, timeout=150, subscribers=1):
    """Start record-eval, wait until it is subscribed, play the bag, wait for the report."""
    out = tmp_path / "rec"
    ready = tmp_path / "ready"
    log = tmp_path / "publish.jsonl"
    rec_cmd = _cli("record-eval", "--out", out, "--ready-file", ready, "--idle-timeout", 8, "--wait-timeout", 60,
                   "--save-overlays", 2, *recorder_args)
    if use_log:
        rec_cmd += ["--publish-log", str(log)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    procs = []
    try:
        rec = subprocess.Popen(rec_cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
        procs.append(rec)
        deadline = time.monotonic() + 90
        while not ready.exists():
            assert rec.poll() is None, rec.stdout.read()
            assert time.monotonic() < deadline, "record-eval did not get ready"
            time.sleep(0.1)
        play_cmd = _cli("play", "--bag", bag, "--wait-subscribers", subscribers, "--start-delay", 0.5, *player_args)
        if use_log:
            play_cmd += ["--publish-log", str(log)]
        play = subprocess.run(play_cmd, env=env, capture_output=True, text=True, timeout=timeout)
        assert play.returncode == 0, play.stdout + play.stderr
        rec_out, _ = rec.communicate(timeout=timeout)
        assert rec.returncode == 0, rec_out
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
    return json.loads(play.stdout[play.stdout.index("{"):]), json.loads((out / "report.json").read_text()), out


def _check_output_bag(report, sent_stamps):
    from rosbags.rosbag2 import Reader

    from panoptic_ros.ros.bag.writer import panoptic_typestore

    store = panoptic_typestore()
    stamps = {}
    with Reader(report["output_bag"]) as r:
        types = {c.topic: c.msgtype for c in r.connections}
        for conn, _, raw in r.messages():
            msg = store.deserialize_cdr(raw, conn.msgtype)
            stamps.setdefault(conn.topic, []).append(msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)
    assert types["/panoptic_node/instances"] == "panoptic_ros/msg/PanopticInstanceArray"
    assert types["/panoptic_node/panoptic"] == types["/panoptic_node/overlay"] == "sensor_msgs/msg/Image"
    assert set(stamps["/panoptic_node/panoptic"]) <= set(sent_stamps)
    assert len(stamps["/panoptic_node/panoptic"]) == report["frames_received"]


@pytest.mark.slow
def test_play_and_record_eval_through_the_node(oracle_node, sample_bags, tmp_path):
    played, report, out = _run_session(tmp_path, sample_bags / "mcap" / "sample_bag",
                                       player_args=["--rate", 0.3],
                                       recorder_args=["--gt", sample_bags / "mcap" / "gt"])
    assert played["sent"] == FRAMES and played["topics"] == {TOPIC: TOPIC}
    assert report["publish_times"] == "publish log" and report["frames_sent"] == FRAMES
    received = report["frames_received"]
    assert received >= 1 and report["drop_rate"] == pytest.approx(1 - received / FRAMES, abs=1e-4)
    lat = report["latency_ms"]
    assert lat["count"] == received and 0 < lat["p50"] <= lat["p90"] <= lat["max"] < 30_000
    assert [f["index"] for f in report["per_frame"]] == sorted(f["index"] for f in report["per_frame"])
    # the oracle predicts each frame's GT: PQ exactly 1 on every received frame
    assert report["pq"]["frames_with_gt"] == received and report["pq"]["mapping"] == "stamp"
    assert report["pq"]["All"]["pq"] == pytest.approx(1.0, abs=1e-12)
    assert (out / "latency.png").is_file() and len(list((out / "overlays").glob("*.jpg"))) >= 1
    meta = json.loads((sample_bags / "mcap" / "gt" / "panoptic.json").read_text())
    _check_output_bag(report, [im["stamp_ns"] for im in meta["images"]])


@pytest.mark.slow
def test_loop_restamps_and_input_topic_timing_on_sqlite3(oracle_node, sample_bags, tmp_path):
    """sqlite3 bag, two loops (stamps shifted so they stay unique), best-effort publisher, no publish log:
    the recorder times frames by their arrival on the input topic."""
    played, report, _ = _run_session(tmp_path, sample_bags / "sqlite3" / "sample_bag",
                                     player_args=["--rate", 0.3, "--loop", "--max-frames", 2 * FRAMES,
                                                  "--qos", "best_effort"],
                                     recorder_args=["--input-topic", TOPIC], use_log=False, subscribers=2)
    assert played["sent"] == 2 * FRAMES and played["loops"] == 2
    assert report["publish_times"] == "input arrival"
    # the recorder counts the frames it saw arrive on the best-effort input topic (one may be lost on a busy
    # machine); more than one loop's worth means the second loop's stamps differ from the first's
    assert FRAMES < report["frames_sent"] <= 2 * FRAMES
    assert 1 <= report["frames_received"] <= 2 * FRAMES
    assert report["latency_ms"]["count"] == report["frames_received"]
    assert report["latency_ms"]["p50"] > 0


def test_play_errors_are_one_line_exit_2(sample_bags, tmp_path):
    bag = sample_bags / "mcap" / "sample_bag"
    for args, pattern in ((["--topic", "/nope"], "'/nope' is not in bag"),
                          (["--rate", "0"], "--rate must be positive")):
        res = subprocess.run(_cli("play", "--bag", bag, *args), capture_output=True, text=True, timeout=60)
        assert res.returncode == 2 and pattern in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
