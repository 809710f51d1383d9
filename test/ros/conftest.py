"""Shared fixtures for tests on a live ROS 2 graph (node tests here, bag play tests of helper D2).

- ros_domain: a random ROS_DOMAIN_ID per test module (other test runs on this machine use their own),
  exported to this process's environment so child processes inherit it;
- ros_graph: an rclpy context + test node in that domain with helpers to publish, collect, spin with
  timeouts and call the parameter services of another node;
- tiny_checkpoint: a random-init smoke model saved with save_checkpoint (session scope, a few seconds);
- node_launcher: starts the installed panoptic_node executable (as `ros2 run` would) with the package's
  parameters file plus overrides, and kills every process it started at teardown; with factory="module:func"
  it starts the node through the test-only launcher node_with_test_model.py with that test model instead;
- PANOPTIC_REQUIRE_ROS=1 (set by `make test`, hence CI): a missing ROS environment (rclpy, the messages, the
  built workspace) fails the run at collection instead of skipping the ROS tests;
(test/conftest.py's export_cache points XDG_CACHE_HOME at one temporary folder shared with the node processes.)
Every wait is bounded; the Fast DDS large-message profile is applied before any rclpy context exists so
camera-sized best-effort frames published from the tests arrive (see panoptic_ros/ros/transport.py).
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from panoptic_ros.ros.transport import use_large_message_profile

REQUIRE_ROS_ENV = "PANOPTIC_REQUIRE_ROS"
ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / ".ws" / "install" / "panoptic_ros"
NODE_EXECUTABLE = INSTALL / "lib" / "panoptic_ros" / "panoptic_node"
LIFECYCLE_EXECUTABLE = INSTALL / "lib" / "panoptic_ros" / "panoptic_lifecycle_node"
PARAMS_FILE = INSTALL / "share" / "panoptic_ros" / "params" / "panoptic.yaml"
STUB_DIR = Path(__file__).resolve().parent          # holds panoptic_test_stub_model.py
TEST_LAUNCHER = STUB_DIR / "node_with_test_model.py"


def _require_ros() -> None:
    """Under PANOPTIC_REQUIRE_ROS=1: fail (not skip) when the ROS environment is broken or not built."""
    if os.environ.get(REQUIRE_ROS_ENV, "") in ("", "0"):
        return
    try:
        import diagnostic_msgs.msg  # noqa: F401
        import rclpy  # noqa: F401
        import sensor_msgs.msg  # noqa: F401

        import panoptic_ros.msg  # noqa: F401
    except ImportError as exc:
        raise pytest.UsageError(f"{REQUIRE_ROS_ENV}=1 but the ROS environment is broken: {exc} (run the tests "
                                "through tools/run.sh after bash tools/setup.sh)") from None
    if not NODE_EXECUTABLE.exists():
        raise pytest.UsageError(f"{REQUIRE_ROS_ENV}=1 but {NODE_EXECUTABLE} is missing: run bash tools/setup.sh")


_require_ros()
try:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
except ImportError:  # rosbags-only tests still run; graph fixtures skip
    rclpy = None
START_TIMEOUT = 90.0                                # node start: imports torch + rclpy, loads the model
if str(STUB_DIR) not in sys.path:                   # test helpers (nodetools) import by name (importlib mode)
    sys.path.insert(0, str(STUB_DIR))

use_large_message_profile()


def qos(reliability: str = "reliable", depth: int = 10):
    policy = ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=policy,
                      durability=DurabilityPolicy.VOLATILE)


def worker_domains(env=os.environ) -> tuple[int, int]:
    """The ROS_DOMAIN_ID range (inclusive) of this pytest process: 1..100, split into disjoint slices when
    pytest-xdist runs several workers (PYTEST_XDIST_WORKER gwN of PYTEST_XDIST_WORKER_COUNT), so two modules
    running at once on different workers never share a domain."""
    count = max(1, int(env.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1))
    worker = env.get("PYTEST_XDIST_WORKER", "")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    span = 100 // count
    return 1 + index * span, (index + 1) * span


@pytest.fixture(scope="module")
def ros_domain() -> int:
    """A random ROS_DOMAIN_ID for this module, exported for the child processes it starts."""
    if rclpy is None:
        pytest.skip("needs rclpy (run through tools/run.sh)")
    domain = random.SystemRandom().randint(*worker_domains())
    old = os.environ.get("ROS_DOMAIN_ID")
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    yield domain
    if old is None:
        os.environ.pop("ROS_DOMAIN_ID", None)
    else:
        os.environ["ROS_DOMAIN_ID"] = old


class RosGraph:
    """A test-side rclpy node in its own context, with bounded waits."""

    def __init__(self, domain: int, name: str = "panoptic_test"):
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def publisher(self, msg_type, topic: str, reliability: str = "reliable", depth: int = 10):
        return self.node.create_publisher(msg_type, topic, qos(reliability, depth))

    def collect(self, msg_type, topic: str, reliability: str = "reliable", depth: int = 50) -> list:
        """Subscribe; every message is appended as (arrival time.monotonic(), msg)."""
        received: list = []

        def on_msg(msg):
            received.append((time.monotonic(), msg))
        self.node.create_subscription(msg_type, topic, on_msg, qos(reliability, depth))
        return received

    def spin_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            self.executor.spin_once(timeout_sec=0.05)
        return bool(predicate())

    def spin_for(self, seconds: float) -> None:
        self.spin_until(lambda: False, seconds)

    def wait_for_subscriber(self, publisher, timeout: float = 30.0) -> bool:
        return self.spin_until(lambda: publisher.get_subscription_count() > 0, timeout)

    def wait_for_publisher(self, topic: str, timeout: float = 30.0) -> bool:
        return self.spin_until(lambda: self.node.count_publishers(topic) > 0, timeout)

    def _call(self, srv_type, service: str, request, timeout: float):
        client = self.node.create_client(srv_type, service)
        try:
            if not self.spin_until(client.service_is_ready, timeout):
                raise TimeoutError(f"service {service} not available after {timeout} s")
            future = client.call_async(request)
            if not self.spin_until(future.done, timeout):
                raise TimeoutError(f"no answer from {service} after {timeout} s")
            return future.result()
        finally:
            self.node.destroy_client(client)

    def set_parameters(self, node_name: str, values: dict, timeout: float = 30.0) -> list:
        """Set parameters of another node one by one -> list of rcl_interfaces/SetParametersResult."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        request = SetParameters.Request(parameters=[Parameter(k, value=v).to_parameter_msg()
                                                    for k, v in values.items()])
        return list(self._call(SetParameters, f"{node_name}/set_parameters", request, timeout).results)

    def get_parameters(self, node_name: str, names: list[str], timeout: float = 30.0) -> dict:
        from rcl_interfaces.srv import GetParameters
        from rclpy.parameter import parameter_value_to_python

        response = self._call(GetParameters, f"{node_name}/get_parameters", GetParameters.Request(names=names),
                              timeout)
        return {n: parameter_value_to_python(v) for n, v in zip(names, response.values)}

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


@pytest.fixture(scope="module")
def ros_graph(ros_domain):
    graph = RosGraph(ros_domain)
    yield graph
    graph.close()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A random-init smoke model (resnet18, 32-channel FPN) with 2 thing and 2 stuff classes."""
    from panoptic_ros.config import load_config
    from panoptic_ros.data.categories import Category, CategoryMap
    from panoptic_ros.modeling import build_model, save_checkpoint

    cfg = load_config(ROOT / "panoptic_ros" / "configs" / "smoke.yaml")
    categories = CategoryMap([Category(1, "person", True, (220, 20, 60)), Category(2, "car", True, (0, 0, 142)),
                              Category(3, "road", False, (128, 64, 128)), Category(4, "sky", False, (70, 130, 180))])
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    return save_checkpoint(path, build_model(cfg, categories), cfg, categories)


class NodeProcess:
    """One panoptic_node child process; its combined stdout/stderr goes to a log file."""

    def __init__(self, cmd: list[str], env: dict, log_path: Path, name: str):
        self.cmd, self.log_path, self.name = cmd, log_path, name
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    @property
    def fqn(self) -> str:
        return f"/{self.name}"

    def log(self, since: int = 0) -> str:
        """The log (from character `since`: a mark(), so an earlier test's line cannot satisfy a check)."""
        return self.log_path.read_text(errors="replace")[since:]

    def mark(self) -> int:
        return len(self.log())

    def wait_for_log_since(self, since: int, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and text not in self.log(since):
            time.sleep(0.1)
        return text in self.log(since)

    def wait_for_log(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return True
            if self.proc.poll() is not None:
                return text in self.log()
            time.sleep(0.1)
        return text in self.log()

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        if not self.wait_for_log("ready:", timeout):
            raise AssertionError(f"panoptic_node did not become ready in {timeout} s "
                                 f"(exit code {self.proc.poll()}); log:\n{self.log()[-3000:]}")

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> int:
        """Send sig, wait; SIGKILL the process group if it does not end. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            if self.wait(timeout) is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def node_launcher(ros_domain, tmp_path_factory):
    """start(parameters={...}, remaps=[...], env={...}, wait=True, factory=None, lifecycle=False) -> NodeProcess
    (installed executable, or with factory="module:function" the test launcher with that test model; lifecycle:
    the managed node; --params-file params/panoptic.yaml, then -p overrides). Kills what it started at teardown."""
    if not NODE_EXECUTABLE.exists():
        pytest.skip(f"{NODE_EXECUTABLE} missing: run bash tools/setup.sh")
    started: list[NodeProcess] = []
    logs = tmp_path_factory.mktemp("node_logs")

    def start(parameters: dict | None = None, *, remaps: list[str] | None = None, env: dict | None = None,
              name: str = "panoptic_node", wait: bool = True, params_file: Path | None = PARAMS_FILE,
              factory: str | None = None, lifecycle: bool = False) -> NodeProcess:
        env = dict(env or {})
        if factory:
            cmd = [sys.executable, str(TEST_LAUNCHER), "--factory", factory] + (["--lifecycle"] if lifecycle else [])
        else:
            cmd = [str(LIFECYCLE_EXECUTABLE if lifecycle else NODE_EXECUTABLE)]
        cmd += ["--ros-args"]
        if params_file is not None:
            cmd += ["--params-file", str(params_file)]
        for key, value in (parameters or {}).items():
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            cmd += ["-p", f"{key}:={text}"]
        for remap in (remaps if remaps is not None else ["image:=/cam/image_raw"]):
            cmd += ["-r", remap]
        if name != "panoptic_node":
            cmd += ["-r", f"__node:={name}"]
        child_env = dict(os.environ, ROS_DOMAIN_ID=str(ros_domain), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1",
                         RCUTILS_LOGGING_BUFFERED_STREAM="0", RCUTILS_COLORIZED_OUTPUT="0")
        child_env["PYTHONPATH"] = os.pathsep.join([str(STUB_DIR), child_env.get("PYTHONPATH", "")])
        child_env.update(env)
        proc = NodeProcess(cmd, child_env, logs / f"{name}-{len(started)}.log", name)
        started.append(proc)
        if wait:
            proc.wait_ready()
        return proc

    yield start
    for proc in started:
        proc.stop(signal.SIGINT, timeout=10)


def image_msg(rgb, encoding: str = "bgr8", *, stamp: tuple[int, int] = (0, 0), frame_id: str = "camera"):
    """An RGB array as sensor_msgs/Image in one of the node's input encodings (mono16/16UC1: value * 257)."""
    import cv2
    import numpy as np

    from panoptic_ros.ros.conversions import numpy_to_image_msg

    if encoding in ("rgb8",):
        pixels = rgb
    elif encoding in ("bgr8", "8UC3"):
        pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    elif encoding == "rgba8":
        pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA)
    elif encoding == "bgra8":
        pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA)
    elif encoding in ("mono8", "8UC1"):
        pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    elif encoding in ("mono16", "16UC1"):
        pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257
    else:
        raise ValueError(encoding)
    msg = numpy_to_image_msg(pixels, encoding)
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = frame_id
    return msg


def stamp_of(msg) -> tuple[int, int]:
    return msg.header.stamp.sec, msg.header.stamp.nanosec
