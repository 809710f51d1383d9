"""Soak test of the installed panoptic_node: N frames at a camera rate, the node's memory over the run.

Starts panoptic_node (the installed executable, as `ros2 run` would, with params/panoptic.yaml plus --param
overrides) on a private ROS_DOMAIN_ID, publishes --frames synthetic 640x480 bgr8 frames (--scenes distinct
scenes, cycled, each with a new header stamp) at --rate Hz on its input topic and counts the ~/panoptic
answers by stamp. The node's resident memory (VmRSS of its process, /proc) is sampled every --sample-every
seconds. Reported in OUT/soak.json (+ OUT/soak.png, RSS over frames):
  rss_mb.after_warmup  RSS once --warmup frames were sent (allocator, thread pools and caches settled)
  rss_mb.end / max     RSS at the end / highest sample (max_after_warmup: highest after the warm-up)
  growth_mb            end - after_warmup (issue 11's criterion: < 50 MB over 10,000 frames)
  slope_mb_per_1000_frames  least-squares slope of RSS over the frames after the warm-up (a leak shows as a
                       steady slope, allocator noise does not)
  answered_fraction    answers / frames sent (the node keeps only the newest frame: below 1 when the model is
                       slower than --rate; answered_fraction_after_warmup likewise)
The node is stopped with SIGINT at the end; its exit code and log (OUT/soak_node.log) are kept.
Linux only (/proc); needs rclpy and the built package (tools/run.sh).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)

INPUT_TOPIC = "/soak/image_raw"
NODE_NAME = "panoptic_node"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="checkpoint or exported model (default: the shipped model)")
    parser.add_argument("--frames", type=int, default=10000, help="frames to publish (default 10000)")
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate in Hz (default 30)")
    parser.add_argument("--warmup", type=int, default=100, help="frames before the reference RSS sample")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--scenes", type=int, default=8, help="distinct synthetic scenes, cycled")
    parser.add_argument("--sample-every", type=float, default=1.0, metavar="S", help="RSS sampling period (s)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="node parameter, e.g. --param runtime:=torch (repeatable)")
    parser.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: random 1-100)")
    parser.add_argument("--start-timeout", type=float, default=120.0, help="seconds for the node to get ready")
    parser.add_argument("--seed", type=int, default=0)


def rss_mb(pid: int) -> float | None:
    """Resident set size of a process in MB (VmRSS), None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def summarize(samples: list[tuple[int, float, float]], warmup: int) -> dict:
    """samples: (frames sent, seconds, RSS MB) -> the RSS numbers of the report (see the module docstring)."""
    import numpy as np

    if not samples:
        return {"after_warmup": None, "end": None, "max": None, "max_after_warmup": None, "growth_mb": None,
                "slope_mb_per_1000_frames": None}
    after = [s for s in samples if s[0] >= warmup] or samples[-1:]
    ref, end = after[0][2], samples[-1][2]
    slope = None
    if len(after) >= 3 and after[-1][0] > after[0][0]:
        x = np.array([s[0] for s in after], dtype=np.float64)
        y = np.array([s[2] for s in after], dtype=np.float64)
        slope = round(float(np.polyfit(x, y, 1)[0]) * 1000.0, 3)
    return {"before_first_frame": round(samples[0][2], 1), "after_warmup": round(ref, 1), "end": round(end, 1),
            "max": round(max(s[2] for s in samples), 1), "max_after_warmup": round(max(s[2] for s in after), 1),
            "growth_mb": round(end - ref, 1), "slope_mb_per_1000_frames": slope}


def _scenes(n: int, width: int, height: int, seed: int) -> list:
    import cv2
    import numpy as np

    from panoptic_ros.data.synth import render_scene

    rng = np.random.default_rng(seed)
    return [np.ascontiguousarray(cv2.cvtColor(render_scene(rng, width, height)[0], cv2.COLOR_RGB2BGR))
            for _ in range(max(1, n))]


def _start_node(args, out: Path, env: dict) -> tuple[subprocess.Popen, object]:
    from panoptic_ros.cli.demo import _model_path, _node_command, _node_values, _params_file

    params_file = _params_file()
    _node_values(params_file, list(args.param))   # unknown names / bad values: an error before anything starts
    cmd = _node_command() + ["--ros-args", "--params-file", str(params_file), "-r", f"image:={INPUT_TOPIC}",
                             "-p", f"model:={_model_path(args.model)}"]
    for p in args.param:
        cmd += ["-p", p]
    logfile = open(out / "soak_node.log", "w")
    proc = subprocess.Popen(cmd, stdout=logfile, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return proc, logfile


def _wait_ready(proc: subprocess.Popen, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"panoptic_node exited (code {proc.returncode}) before it was ready; see {log_path}")
        if "ready:" in log_path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"panoptic_node not ready after {timeout:.0f} s; see {log_path}")


def _stop(proc: subprocess.Popen) -> int | None:
    for sig, wait in ((signal.SIGINT, 20.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
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


def run(args) -> dict:
    from tqdm import tqdm

    if args.frames < 1 or args.rate <= 0 or args.warmup < 0 or args.sample_every <= 0:
        raise ValueError("--frames must be >= 1, --rate and --sample-every > 0, --warmup >= 0")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(args.domain_id if args.domain_id is not None else random.randint(1, 100))
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env["PYTHONUNBUFFERED"] = "1"
    from panoptic_ros.ros.transport import use_large_message_profile
    use_large_message_profile(env)
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")})
    use_large_message_profile()
    images = _scenes(args.scenes, args.width, args.height, args.seed)

    proc, logfile = _start_node(args, out, env)
    samples: list[tuple[int, float, float]] = []
    answered: set[int] = set()
    sent_stamps: list[int] = []
    t_start = time.monotonic()
    try:
        _wait_ready(proc, out / "soak_node.log", args.start_timeout)
        from panoptic_ros.ros.soak_driver import drive  # rclpy lives in panoptic_ros/ros only
        samples, sent_stamps, answered, wall = drive(args, proc, images, tqdm)
    finally:
        code = _stop(proc)
        logfile.close()
    warm = set(sent_stamps[args.warmup:])
    result = {
        "benchmark": "soak", "model": str(args.model or "default"), "frames_sent": len(sent_stamps),
        "frames_answered": len(answered), "rate_hz": args.rate, "warmup_frames": args.warmup,
        "size": f"{args.width}x{args.height}", "params": list(args.param),
        "answered_fraction": round(len(answered) / len(sent_stamps), 4) if sent_stamps else None,
        "answered_fraction_after_warmup": round(len(answered & warm) / len(warm), 4) if warm else None,
        "rss_mb": summarize(samples, args.warmup), "rss_samples": [list(s) for s in samples],
        "duration_s": round(time.monotonic() - t_start, 1), "drive_s": round(wall, 1),
        "node_exit_code": code, "node_log": str(out / "soak_node.log"),
    }
    result["growth_mb"] = result["rss_mb"]["growth_mb"]
    json_path, png_path = out / "soak.json", out / "soak.png"
    _plot(samples, args.warmup, png_path)
    result.update({"json": str(json_path), "plot": str(png_path)})
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    r = result["rss_mb"]
    print(f"soak: {result['frames_sent']} frames at {args.rate:g} Hz, answered {result['frames_answered']} "
          f"({100 * (result['answered_fraction'] or 0):.1f}%); node RSS after warm-up {r['after_warmup']} MB, "
          f"end {r['end']} MB, max {r['max']} MB, growth {r['growth_mb']} MB "
          f"({r['slope_mb_per_1000_frames']} MB / 1000 frames); {json_path}")
    return result


def _plot(samples: list, warmup: int, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    if samples:
        ax.plot([s[0] for s in samples], [s[2] for s in samples], marker=".", linewidth=1)
        ax.axvline(warmup, color="grey", linestyle="--", linewidth=1, label="end of warm-up")
        ax.legend()
    ax.set_xlabel("frames sent")
    ax.set_ylabel("panoptic_node RSS [MB]")
    ax.grid(alpha=0.3)
    ax.set_title("panoptic_node memory over a soak run")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
