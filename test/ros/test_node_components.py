"""The node's parts without a graph: newest-frame inference thread (one camera), QoS choice and messages,
watchdog, statistics, Fast DDS profile selection."""
import math
import threading
import time
from types import SimpleNamespace

import pytest

pytest.importorskip("rclpy")
from rclpy.qos import QoSPolicyKind, ReliabilityPolicy  # noqa: E402

from panoptic_ros.ros import diagnostics, qos, transport  # noqa: E402
from panoptic_ros.ros.node.batching import BatchWorker, FairBatchScheduler  # noqa: E402

pytestmark = pytest.mark.ros


def test_worker_processes_only_the_newest_frame():
    """The node's inference thread with one camera: frames arriving while one runs replace each other."""
    gate, seen, busy = threading.Event(), [], threading.Event()

    def process(batch):
        busy.set()
        if batch == [("cam", 0)]:
            gate.wait(5)
        seen.append(batch)
    scheduler = FairBatchScheduler(["cam"])
    worker = BatchWorker(scheduler, process).start()
    scheduler.put("cam", 0)
    assert busy.wait(5)
    replaced = [scheduler.put("cam", i) for i in range(1, 6)]   # arrive while 0 runs
    assert replaced == [False, True, True, True, True] and scheduler.dropped == {"cam": 4}
    assert scheduler.pending() == ["cam"]
    gate.set()
    assert worker.wait_idle(5)
    assert seen == [[("cam", 0)], [("cam", 5)]] and scheduler.pending() == []
    assert worker.stop(5)


def test_worker_survives_errors_and_stops():
    errors, seen = [], []

    def process(batch):
        if batch == [("cam", "bad")]:
            raise ValueError("boom")
        seen.append(batch)
    scheduler = FairBatchScheduler(["cam"])
    worker = BatchWorker(scheduler, process, on_error=lambda exc, batch: errors.append((str(exc), batch))).start()
    scheduler.put("cam", "bad")
    assert worker.wait_idle(5)
    scheduler.put("cam", "good")
    assert worker.wait_idle(5)
    assert errors == [("boom", [("cam", "bad")])] and seen == [[("cam", "good")]]
    assert worker.stop(5)
    assert scheduler.put("cam", "late") is False
    time.sleep(0.1)
    assert seen == [[("cam", "good")]]


def endpoint(reliability, name="camera"):
    profile = qos.subscription_qos(reliability, 5)
    return SimpleNamespace(node_name=name, node_namespace="/", qos_profile=profile)


def test_choose_reliability():
    R, B = ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT
    assert qos.choose_reliability("auto", []) == R
    assert qos.choose_reliability("auto", [R, R]) == R
    assert qos.choose_reliability("auto", [R, B]) == B
    assert qos.choose_reliability("reliable", [B]) == R
    assert qos.choose_reliability("best_effort", [R]) == B
    with pytest.raises(ValueError, match="qos_reliability"):
        qos.choose_reliability("sometimes", [])


def test_incompatible_qos_message_names_topic_both_qos_and_parameter():
    ours = qos.subscription_qos(ReliabilityPolicy.RELIABLE, 1)
    text = qos.incompatible_qos_message("/cam/image_raw", ours, [endpoint(ReliabilityPolicy.BEST_EFFORT)],
                                        QoSPolicyKind.RELIABILITY, "reliable")
    assert "/cam/image_raw" in text
    assert "reliability=reliable" in text and "reliability=best_effort" in text
    assert "/camera" in text and "qos_reliability" in text and "RELIABILITY" in text


def test_watchdog_warns_once_per_timeout_while_publishers_are_silent():
    dog = qos.FrameWatchdog(timeout=5.0)
    assert not dog.check(0.0, 0)
    assert not dog.check(1.0, 1)          # publishers appear: silence starts
    assert not dog.check(5.5, 1)
    assert dog.check(6.1, 1)
    assert not dog.check(7.0, 1)          # throttled
    assert dog.check(11.2, 1)
    dog.frame(11.5)
    assert not dog.check(15.0, 1)
    assert not dog.check(30.0, 0)         # no publishers: nothing to warn about
    text = qos.no_frames_message("/cam", 5, qos.subscription_qos(ReliabilityPolicy.RELIABLE, 1),
                                 [endpoint(ReliabilityPolicy.RELIABLE)], "auto")
    assert "/cam" in text and "no image for 5 s" in text and "reliable" in text
    slow = qos.FrameWatchdog(timeout=5.0)           # a 0.5 Hz camera: silence is judged by its own interval
    slow.frame(0.0)
    assert not slow.check(6.0, 1, interval=2.0) and slow.check(8.1, 1, interval=2.0)


def test_watchdog_names_a_cause_only_on_evidence():
    reliable, best_effort = ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT
    paused = qos.no_frames_message("/cam", 8, qos.subscription_qos(best_effort, 1), [endpoint(best_effort)], "auto",
                                   received=12, interval=2.0)
    assert "12 frame(s) arrived before (its usual interval: 2.00 s): the publisher paused" in paused
    assert "shared-memory" not in paused
    never_reliable = qos.no_frames_message("/cam", 5, qos.subscription_qos(reliable, 1), [endpoint(reliable)], "auto")
    assert "shared-memory" not in never_reliable and "check that the camera publishes" in never_reliable
    never_best_effort = qos.no_frames_message("/cam", 5, qos.subscription_qos(best_effort, 1),
                                              [endpoint(best_effort)], "auto")
    assert "Fast DDS shared-memory segment" in never_best_effort


def test_frame_stats_snapshot_and_status():
    stats = diagnostics.FrameStats()
    snap = stats.snapshot(0.0)
    assert math.isnan(snap["latency_p50_ms"]) and snap["rate_hz"] == 0.0
    for i in range(11):
        stats.arrived(10.0 + i * 0.1)
        stats.frame_done(10.0 + i * 0.1, latency=0.05 + 0.001 * i, model_time=0.04, tracker_time=0.001 * (i % 3))
    stats.count("rejected", 2)
    snap = stats.snapshot(11.0)
    assert snap["processed"] == 11 and snap["rejected"] == 2
    assert snap["rate_hz"] == pytest.approx(10.0, rel=0.05)
    assert snap["latency_p50_ms"] == pytest.approx(55.0) and snap["model_p90_ms"] == pytest.approx(40.0)
    assert diagnostics.status_level(snap, 1) == (diagnostics.WARN, "2 bad frame(s) rejected")
    status = diagnostics.diagnostic_status(snap, name="n", hardware_id="cpu", publisher_count=1)
    values = diagnostics.diagnostic_values(status)
    assert values["frames rejected"] == "2" and values["latency p50 (ms)"] == "55.0"
    # the tracker's time: 0, 1, 2 ms in turn (4 x 0, 4 x 1, 3 x 2): median 1 ms, 90th percentile 2 ms
    assert values["tracker p50 (ms)"] == "1.00" and values["tracker p90 (ms)"] == "2.00"
    assert status.level == bytes([diagnostics.WARN])
    quiet = stats.snapshot(12.0)            # nothing new since the last snapshot: 1 s is not news at 10 Hz yet
    assert diagnostics.status_level(quiet, 1) == (diagnostics.OK, "running")
    assert diagnostics.status_level(stats.snapshot(20.0), 1) == (
        diagnostics.WARN, "1 publisher(s) but no frame for 9.0 s (the camera's usual interval: 0.10 s)")
    assert diagnostics.status_level(diagnostics.FrameStats().snapshot(3.0), 0) == (diagnostics.OK,
                                                                                  "waiting for images")
    never = diagnostics.FrameStats()
    never.snapshot(0.0)
    assert diagnostics.status_level(never.snapshot(4.0), 1) == (diagnostics.OK, "waiting for images")
    assert diagnostics.status_level(never.snapshot(6.0), 1) == (diagnostics.WARN,
                                                                "1 publisher(s) but no frame received in 6 s")


def test_status_judges_silence_against_the_cameras_own_rate():
    """A 0.5 Hz camera: no frame within one diagnostics period is normal (it said 'no frames received' while
    'frames received' grew); silence of several of its own intervals is reported, with them."""
    stats = diagnostics.FrameStats()
    stats.snapshot(0.0)
    for t in (0.0, 2.0, 4.0, 6.0):
        stats.arrived(t)
    for now in (6.5, 7.5, 13.9):                     # under max(5 s, 4 x 2 s) since the last frame
        snap = stats.snapshot(now)
        assert snap["delta"]["received"] == 0 or now == 6.5
        assert diagnostics.status_level(snap, 1) == (diagnostics.OK, "running"), now
    assert stats.snapshot(14.5)["frame_interval_s"] == 2.0
    assert diagnostics.status_level(stats.snapshot(14.5), 1) == (
        diagnostics.WARN, "1 publisher(s) but no frame for 8.5 s (the camera's usual interval: 2.00 s)")
    assert diagnostics.status_level(stats.snapshot(14.5), 0) == (diagnostics.OK, "running")   # publisher gone
    fast = diagnostics.FrameStats()
    for i in range(10):
        fast.arrived(i * 0.1)
    assert diagnostics.status_level(fast.snapshot(0.9 + 4.0), 1)[0] == diagnostics.OK
    assert diagnostics.status_level(fast.snapshot(0.9 + 5.5), 1)[0] == diagnostics.WARN     # at least 5 s


def test_fastdds_profile_only_when_the_user_has_not_configured_fastdds():
    env = {}
    assert transport.use_large_message_profile(env) == str(transport.PROFILE_FILE)
    assert env["FASTDDS_DEFAULT_PROFILES_FILE"] == str(transport.PROFILE_FILE)
    assert transport.PROFILE_FILE.is_file() and "segment_size" in transport.PROFILE_FILE.read_text()
    for user in ({"FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA"}, {"FASTRTPS_DEFAULT_PROFILES_FILE": "/x.xml"},
                 {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}, {transport.OPT_OUT: "0"}):
        env = dict(user)
        assert transport.use_large_message_profile(env) is None
        assert env == user


def test_reason_throttle_is_per_kind_of_reason():
    from panoptic_ros.ros.node import ReasonThrottle

    throttle = ReasonThrottle(5.0)
    assert throttle.allow("step 10 is smaller than width 192", 0.0)
    assert not throttle.allow("step 12 is smaller than width 200", 1.0)   # same kind (numbers ignored)
    assert throttle.allow("unsupported encoding 'yuv422'", 1.0)            # another kind: logged at once
    assert throttle.allow("step 10 is smaller than width 192", 5.5)


def test_background_load_reports_model_or_error_from_its_thread():
    from panoptic_ros.ros.model_loading import BackgroundLoad

    done = threading.Event()
    gate = threading.Event()
    job = BackgroundLoad(lambda values: (gate.wait(5), values["model"])[1], {"model": "m"}, {"model": "m"},
                         done.set).start()
    assert not job.done and not done.is_set()            # start() returned while the load is still running
    gate.set()
    assert job.wait(5) and done.wait(5)
    assert job.model == "m" and job.error is None and job.seconds >= 0

    def fail(values):
        raise OSError("disk gone")
    failed = BackgroundLoad(fail, {}, {"model": "x"}, lambda: None).start()
    assert failed.wait(5) and failed.model is None and str(failed.error) == "disk gone"


def test_release_cuda_cache_gives_a_dropped_models_memory_back():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    from panoptic_ros.ros.model_loading import release_cuda_cache

    model = torch.nn.Linear(4096, 4096).cuda()      # 64 MB of weights
    reserved = torch.cuda.memory_reserved()
    del model
    release_cuda_cache()
    assert torch.cuda.memory_reserved() <= reserved - 60 * 2**20


def test_pipeline_loader_notes_once_that_the_shipped_model_knows_only_synthetic_classes(tiny_checkpoint):
    """The node's start-up log says what the shipped model is (issue 20 item 12); other models get no note."""
    from panoptic_ros.ros.model_loading import PipelineLoader
    from panoptic_ros.ros.params import ros_parameters

    values = {p.name: p.default for p in ros_parameters()}
    values.update(runtime="torch", precision="fp32", device="cpu")
    notes: list[str] = []
    loader = PipelineLoader(notes.append)
    loader.load({**values, "model": str(tiny_checkpoint)})
    assert notes == []
    loader.load({**values, "model": ""})
    loader.load({**values, "model": ""})
    assert len(notes) == 1 and notes[0].startswith("the shipped model only knows 8 synthetic classes"), notes
