"""Architecture rules that a refactor could silently break: the core imports without ROS on the path (the static
import rules, ROS imports in ros/ only included, are test_layers.py's), safe checkpoint loading, and the colcon
build of the messages."""
import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "panoptic_ros"
ROS_MODULES = ("rclpy", "std_msgs", "sensor_msgs", "geometry_msgs", "diagnostic_msgs", "builtin_interfaces",
               "rosidl_runtime_py", "rosbags", "launch", "launch_ros", "visualization_msgs")


def test_core_runs_without_ros_on_the_path(tmp_path):
    """Import every core module in a Python that cannot see the ROS workspace nor rclpy."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMENT", "COLCON", "ROS", "PYTHONPATH"))}
    env["PYTHONPATH"] = str(ROOT)
    code = (
        "import sys, importlib, pkgutil\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {ROS_MODULES!r}: raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import panoptic_ros\n"
        "mods = [m.name for m in pkgutil.walk_packages(panoptic_ros.__path__[:1], 'panoptic_ros.')\n"
        "        if not m.name.startswith(('panoptic_ros.ros', 'panoptic_ros.msg'))]\n"
        "for m in mods: importlib.import_module(m)\n"
        "from panoptic_ros.cli.main import build_parser; build_parser()\n"
        "print(len(mods))\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip().splitlines()[-1]) > 5


def test_no_plain_pickle_loading():
    offenders = []
    for path in PKG.rglob("*.py"):
        text = path.read_text()
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                fn = ast.unparse(node.func)
                if fn in ("torch.load", "load") and "torch" in text and fn == "torch.load":
                    kws = {k.arg: ast.unparse(k.value) for k in node.keywords}
                    if kws.get("weights_only") != "True":
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
                if fn in ("pickle.load", "pickle.loads"):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, "unsafe checkpoint loading at " + ", ".join(offenders)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("colcon") is None, reason="colcon not installed (run tools/setup.sh)")
def test_colcon_builds_messages_and_installs_the_node(tmp_path):
    """A fresh colcon workspace builds the messages; a clean shell that sources it imports them."""
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    os.symlink(ROOT, ws / "src" / "panoptic_ros")
    venv = os.environ.get("VIRTUAL_ENV", sys.prefix)
    env = dict(os.environ, AMENT_PREFIX_PATH=venv, CMAKE_PREFIX_PATH=venv)
    env.pop("COLCON_PREFIX_PATH", None)
    build = subprocess.run(["colcon", "build", "--event-handlers", "console_direct-", "--cmake-args",
                            "-DBUILD_TESTING=OFF"],
                           cwd=ws, env=env, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    install = ws / "install" / "panoptic_ros"
    assert (install / "lib" / "panoptic_ros" / "panoptic_node").exists()
    assert (install / "lib" / "panoptic_ros" / "panoptic_lifecycle_node").exists()
    assert (install / "share" / "panoptic_ros" / "launch" / "camera.launch.py").exists()
    assert (install / "share" / "panoptic_ros" / "params" / "panoptic.yaml").exists()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AMENT", "COLCON", "PYTHONPATH", "CMAKE"))}
    script = (f". {venv}/bin/activate && export AMENT_PREFIX_PATH=$VIRTUAL_ENV && . {ws}/install/setup.bash && "
              "python -c 'import panoptic_ros, panoptic_ros.msg as m; "
              "a = m.PanopticInstanceArray(height=2, width=3, instances=[m.PanopticInstance(id=1, label=\"disc\")]); "
              "from rclpy.serialization import serialize_message, deserialize_message; "
              "b = deserialize_message(serialize_message(a), m.PanopticInstanceArray); "
              "assert b.instances[0].label == \"disc\" and b.width == 3; print(panoptic_ros.__file__)'")
    out = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert str(ws) in out.stdout


def _launch_module():
    """launch/camera.launch.py as a module (its launch imports are inside functions: launch is not installed)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("camera_launch", ROOT / "launch" / "camera.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _launch_args(**given):
    module = _launch_module()
    args = {name: (default if default is not None else "/share/params/panoptic.yaml")
            for name, (default, _) in module.ARGUMENTS.items()}
    return module.node_settings({**args, **given})


def test_launch_file_starts_the_plain_node_by_default():
    settings = _launch_args(image="/front/image_raw")
    assert settings["executable"] == "panoptic_node" and not settings["lifecycle"] and not settings["autostart"]
    assert settings["remappings"] == [("image", "/front/image_raw")]
    params_file, overrides = settings["parameters"]
    assert params_file == "/share/params/panoptic.yaml"
    assert overrides == {"use_sim_time": False}            # empty arguments keep the params file's values


def test_launch_file_lifecycle_argument_and_overrides():
    settings = _launch_args(lifecycle="true", device="cuda", images="front=/f/image_raw, /rear/image_raw",
                            use_depth="true", use_sim_time="True")
    assert settings["executable"] == "panoptic_lifecycle_node" and settings["lifecycle"] and settings["autostart"]
    assert settings["name"] == "panoptic_node"               # same node name and topics as the plain node
    assert settings["parameters"][1] == {"use_sim_time": True, "device": "cuda", "use_depth": True,
                                         "images": ["front=/f/image_raw", "/rear/image_raw"]}
    assert not _launch_args(lifecycle="true", autostart="false")["autostart"]


def test_every_executable_the_launch_file_can_start_is_installed():
    module = _launch_module()
    cmake = (ROOT / "CMakeLists.txt").read_text()
    for lifecycle in ("false", "true"):
        executable = _launch_args(lifecycle=lifecycle)["executable"]
        assert f"scripts/{executable}" in cmake, f"CMakeLists.txt does not install {executable}"
        script = ROOT / "scripts" / executable
        assert script.is_file() and os.access(script, os.X_OK)
    assert set(module.OVERRIDES) <= set(module.ARGUMENTS)
