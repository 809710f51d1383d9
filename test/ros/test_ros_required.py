"""`make test` (and CI through it) sets PANOPTIC_REQUIRE_ROS=1: a broken ROS environment then fails the run
instead of silently skipping every ROS test (conftest._require_ros). Simulated with an rclpy that is "not found"
(ModuleNotFoundError, what importorskip turns into a skip) first on PYTHONPATH, in a child pytest that only
collects one ROS test module."""
import os
import subprocess
import sys

from conftest import REQUIRE_ROS_ENV, ROOT


def collect(tmp_path, require: str) -> subprocess.CompletedProcess:
    broken = tmp_path / "broken"
    (broken / "rclpy").mkdir(parents=True, exist_ok=True)
    (broken / "rclpy" / "__init__.py").write_text(   # what importorskip skips on: rclpy not found
        'raise ModuleNotFoundError("simulated broken ROS environment", name="rclpy")\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(broken), os.environ.get("PYTHONPATH", "")]))
    env[REQUIRE_ROS_ENV] = require
    return subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "test/ros/test_node_qos.py"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_missing_ros_skips_by_default_but_fails_when_required(tmp_path):
    relaxed = collect(tmp_path, "0")
    assert relaxed.returncode in (0, 5), relaxed.stdout + relaxed.stderr      # 5: nothing collected (skipped)
    assert "simulated broken ROS environment" in relaxed.stdout + relaxed.stderr
    strict = collect(tmp_path, "1")
    assert strict.returncode not in (0, 5), strict.stdout + strict.stderr
    assert (f"{REQUIRE_ROS_ENV}=1 but the ROS environment is broken: simulated broken ROS environment"
            in strict.stdout + strict.stderr), strict.stdout + strict.stderr
