"""The installed panoptic_node as a child process: its command, parameters file and values, start-up wait and
stop (SIGINT, then SIGTERM, then SIGKILL). Used by `panoptic demo` and the ROS benchmarks (soak, cameras).

Why here: these are facts about the node's installation and parameters (ros/), needed by a cli command and by
benchmarks alike; no rclpy import (the processes talk ROS, this module does not).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from panoptic_ros.config import check_value
from panoptic_ros.pipeline import resolve_model_path

from .names import NODE_EXECUTABLE, NODE_NAME
from .params import parameter_by_name

READY_MARK = "ready:"         # the node's log line once it takes frames


def model_path(model: str | None) -> Path:
    """The model file the node will load (None: the shipped model), absolute."""
    return resolve_model_path(model).resolve()


def _share_candidates() -> list[Path]:
    out = [Path(__file__).resolve().parents[2]]  # the source tree (package root)
    try:
        from ament_index_python.packages import get_package_share_directory  # ROS installs only

        out.append(Path(get_package_share_directory("panoptic_ros")))
    except (ImportError, LookupError, ValueError, OSError):  # not installed through colcon
        pass
    return out


def params_file() -> Path:
    """params/panoptic.yaml of the source tree, else of the installed share/panoptic_ros."""
    for root in _share_candidates():
        if (root / "params" / "panoptic.yaml").is_file():
            return root / "params" / "panoptic.yaml"
    raise FileNotFoundError("params/panoptic.yaml not found (source tree or installed share/panoptic_ros)")


def node_command() -> list[str]:
    """The installed executable (what `ros2 run panoptic_ros panoptic_node` starts), else the module."""
    try:
        from ament_index_python.packages import get_package_prefix  # ROS installs only

        exe = Path(get_package_prefix("panoptic_ros")) / "lib" / "panoptic_ros" / NODE_EXECUTABLE
        if exe.is_file():
            return [sys.executable, str(exe)]
    except (ImportError, LookupError, ValueError, OSError):  # package not installed through colcon
        pass
    return [sys.executable, "-m", "panoptic_ros.ros.node"]


def node_default(name: str):
    """A node parameter's default (None when the node has no such parameter)."""
    param = parameter_by_name().get(name)
    return getattr(param, "default", None) if param is not None else None


def node_values(params_path: Path, node_params: list[str]) -> dict:
    """The node's parameter values: the parameters file (its ros__parameters) then NAME:=VALUE overrides;
    ValueError naming an unknown parameter or a bad value (before any process starts)."""
    known = parameter_by_name()
    raw = {}
    data = yaml.safe_load(params_path.read_text()) or {}
    for key in ("/**", NODE_NAME, f"/{NODE_NAME}"):
        raw.update((data.get(key) or {}).get("ros__parameters") or {})
    for item in node_params:
        name, sep, value = item.partition(":=")
        if not sep:
            raise ValueError(f"--param {item!r} must look like name:=value")
        raw[name.strip()] = yaml.safe_load(value)
    values = {}
    for name, value in raw.items():
        if name not in known:
            raise ValueError(f"unknown node parameter {name!r} (in {params_path} or --param); "
                             f"known: {', '.join(known)}")
        values[name] = check_value(name, known[name].field, value)
    return values


def wait_ready(proc: subprocess.Popen, log_path: Path, timeout: float) -> None:
    """Until the node's log has its "ready:" line; RuntimeError when it exits first or timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"panoptic_node exited (code {proc.returncode}) before it was ready; see {log_path}")
        if READY_MARK in log_path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"panoptic_node not ready after {timeout:.0f} s; see {log_path}")


def stop_process(proc: subprocess.Popen, sigint_wait: float = 20.0) -> int | None:
    """Stop a child started with start_new_session (its whole group): SIGINT, then SIGTERM, then SIGKILL; its
    exit code (None if it survived even that)."""
    for sig, wait in ((signal.SIGINT, sigint_wait), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    return proc.poll()
