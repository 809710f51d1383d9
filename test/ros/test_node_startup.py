"""Start-up errors end the node with exit code 1 and one clear line (no traceback); the launch file.

The failing starts run in parallel (each one imports torch and rclpy, seconds on 2 busy cores). Bad values
of single parameters (range, choices) go through the same path and are covered in-process by test_params.py.
"""
import os
import shutil
import signal
import subprocess
import sys

import pytest
import yaml

pytest.importorskip("rclpy")

from conftest import NODE_EXECUTABLE, PARAMS_FILE, ROOT, TEST_LAUNCHER  # noqa: E402

pytestmark = pytest.mark.ros
LAUNCH_FILE = ROOT / "launch" / "camera.launch.py"


@pytest.fixture(scope="module")
def failed_starts(ros_domain, tiny_checkpoint, tmp_path_factory):
    """Start the node once per bad configuration, all at once; {case: (exit code, output)}."""
    if not NODE_EXECUTABLE.exists():
        pytest.skip("run bash tools/setup.sh")
    tmp = tmp_path_factory.mktemp("startup")
    corrupt = tmp / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00\x01 not a safetensors file")
    shutil.copy(tiny_checkpoint.with_suffix(".json"), corrupt.with_suffix(".json"))
    wrong_type = tmp / "wrong_type.yaml"      # a word where the parameter is a number (1 for 1.0 is accepted)
    wrong_type.write_text(PARAMS_FILE.read_text().replace("overlay_alpha: 0.5", "overlay_alpha: high")
                          .replace("model: ''", f"model: '{tiny_checkpoint}'"))
    unreadable_yaml = tmp / "bad.yaml"
    unreadable_yaml.write_text("/**:\n  ros__parameters:\n    model: [unclosed\n")
    node = [str(NODE_EXECUTABLE)]
    # the shipped model is tracked, so its absence is simulated: the test launcher points the default path at a
    # missing file (model '' in the params file = the default)
    no_default = [sys.executable, str(TEST_LAUNCHER), "--default-model", str(tmp / "no_default.safetensors")]
    base = ["--params-file", str(PARAMS_FILE)]
    cases = {
        "missing model": (node, [*base, "-p", f"model:={tmp / 'nope.safetensors'}"]),
        "corrupt model": (node, [*base, "-p", f"model:={corrupt}"]),
        # alone: rcl keeps a double given before for a string given after (its override merge, not the node)
        "wrong type": (node, ["--params-file", str(wrong_type)]),
        "bad params file": (node, [*base, "--params-file", str(unreadable_yaml)]),
        "default model missing": (no_default, base),
    }
    env = dict(os.environ, ROS_DOMAIN_ID=str(ros_domain), OMP_NUM_THREADS="1", RCUTILS_COLORIZED_OUTPUT="0")
    procs = {name: subprocess.Popen([*cmd, "--ros-args", *args],
                                    env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    start_new_session=True)
             for name, (cmd, args) in cases.items()}
    results = {}
    try:
        for name, proc in procs.items():
            out, _ = proc.communicate(timeout=300)
            results[name] = (proc.returncode, out)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    return results


@pytest.mark.parametrize("case, expected", [
    ("missing model", "model file not found"),
    ("corrupt model", "not a valid safetensors file"),
    # the same reason `ros2 param set` gets (test_node_params.py)
    ("wrong type", "parameter overlay_alpha: expected a number, got 'high' (str), e.g. overlay_alpha: 0.5"),
    ("bad params file", "Couldn't parse params file"),
    ("default model missing", "the shipped default model is not installed"),
])
def test_startup_errors_exit_1_with_one_clear_line(failed_starts, case, expected):
    code, out = failed_starts[case]
    assert code == 1, out
    assert "Traceback" not in out
    errors = [line for line in out.splitlines() if line.startswith("[panoptic_node] error:")]
    assert len(errors) == 1, out
    assert expected in errors[0]
    assert len([line for line in out.splitlines() if line.strip()]) <= 2, out   # rcl may add one line of its own


@pytest.mark.parametrize("lifecycle", ["false", "true"])
def test_launch_file_starts_the_node(ros_graph, tiny_checkpoint, tmp_path, lifecycle):
    """Runs only where launch_ros is installed (not on the development machine). lifecycle:=true: the managed
    node, configured and activated by the launch file (autostart)."""
    pytest.importorskip("launch_ros")
    data = yaml.safe_load(PARAMS_FILE.read_text())
    data["/**"]["ros__parameters"].update(model=str(tiny_checkpoint), input_size=64)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(data))
    script = (
        "import sys\n"
        "from launch import LaunchDescription, LaunchService\n"
        "from launch.actions import IncludeLaunchDescription\n"
        "from launch.launch_description_sources import PythonLaunchDescriptionSource\n"
        f"src = PythonLaunchDescriptionSource({str(LAUNCH_FILE)!r})\n"
        "args = {'image': '/launch_cam/image', 'namespace': 'launched', 'params_file': sys.argv[1],\n"
        f"        'lifecycle': {lifecycle!r}}}.items()\n"
        "ls = LaunchService()\n"
        "ls.include_launch_description(LaunchDescription([IncludeLaunchDescription(src, launch_arguments=args)]))\n"
        "sys.exit(ls.run())\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(params)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        seen = ros_graph.spin_until(lambda: ros_graph.node.count_publishers("/launched/panoptic_node/panoptic") > 0
                                    and ros_graph.node.count_subscribers("/launch_cam/image") > 0, 120)
        assert seen, "the launched node did not appear"
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_params_file_is_installed():
    assert PARAMS_FILE.exists(), "run bash tools/setup.sh"
    assert PARAMS_FILE.read_text() == (ROOT / "params" / "panoptic.yaml").read_text()
    assert (PARAMS_FILE.parent.parent / "rviz" / "panoptic.rviz").exists()
