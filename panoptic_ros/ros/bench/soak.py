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
Linux only (/proc); needs rclpy and the built package (tools/run.sh). Options: cli/bench_ros.py.
"""
from __future__ import annotations

import os
import random
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from tqdm import tqdm

from panoptic_ros.utils.json_io import write_json

from .. import node_process
from ..bag.reader import header_stamp_ns
from ..conversions import numpy_to_image_msg
from ..names import NODE_NAME
from ..transport import use_large_message_profile
from .frames import bgr_scenes

INPUT_TOPIC = "/soak/image_raw"


@dataclass
class SoakOptions:
    """One soak run (see the module docstring; defaults as `panoptic bench soak`)."""
    out: Path
    model: str | None = None
    frames: int = 10000
    rate: float = 30.0
    warmup: int = 100
    width: int = 640
    height: int = 480
    scenes: int = 8
    sample_every: float = 1.0
    param: list = field(default_factory=list)
    domain_id: int | None = None
    start_timeout: float = 120.0
    seed: int = 0


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


def _start_node(args: SoakOptions, out: Path, env: dict) -> tuple[subprocess.Popen, object]:
    params_file = node_process.params_file()
    node_process.node_values(params_file, list(args.param))   # unknown names / bad values: fail before starting
    cmd = node_process.node_command() + ["--ros-args", "--params-file", str(params_file), "-r",
                                         f"image:={INPUT_TOPIC}", "-p", f"model:={node_process.model_path(args.model)}"]
    for p in args.param:
        cmd += ["-p", p]
    logfile = open(out / "soak_node.log", "w")
    proc = subprocess.Popen(cmd, stdout=logfile, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return proc, logfile


def run(args: SoakOptions) -> dict:
    if args.frames < 1 or args.rate <= 0 or args.warmup < 0 or args.sample_every <= 0:
        raise ValueError("--frames must be >= 1, --rate and --sample-every > 0, --warmup >= 0")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(args.domain_id if args.domain_id is not None else random.randint(1, 100))
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env["PYTHONUNBUFFERED"] = "1"
    use_large_message_profile(env)
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")})
    use_large_message_profile()
    images = bgr_scenes(args.scenes, args.width, args.height, args.seed)

    proc, logfile = _start_node(args, out, env)
    samples: list[tuple[int, float, float]] = []
    answered: set[int] = set()
    sent_stamps: list[int] = []
    t_start = time.monotonic()
    try:
        node_process.wait_ready(proc, out / "soak_node.log", args.start_timeout)
        samples, sent_stamps, answered, wall = _drive(args, proc, images)
    finally:
        code = node_process.stop_process(proc)
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
    write_json(json_path, result)
    r = result["rss_mb"]
    print(f"soak: {result['frames_sent']} frames at {args.rate:g} Hz, answered {result['frames_answered']} "
          f"({100 * (result['answered_fraction'] or 0):.1f}%); node RSS after warm-up {r['after_warmup']} MB, "
          f"end {r['end']} MB, max {r['max']} MB, growth {r['growth_mb']} MB "
          f"({r['slope_mb_per_1000_frames']} MB / 1000 frames); {json_path}")
    return result


def _drive(args: SoakOptions, proc: subprocess.Popen, images: list) -> tuple[list, list, set, float]:
    """Publish the frames at the rate, count answers, sample the node's RSS."""
    samples: list[tuple[int, float, float]] = []
    answered: set[int] = set()
    sent: list[int] = []
    context = rclpy.Context()
    rclpy.init(args=[], context=context, domain_id=int(os.environ["ROS_DOMAIN_ID"]))  # not our argv
    node = rclpy.create_node("panoptic_soak", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.RELIABLE)
        pub = node.create_publisher(Image, INPUT_TOPIC, qos)

        def on_answer(raw: bytes) -> None:
            try:
                answered.add(header_stamp_ns(raw))
            except ValueError:
                pass
        node.create_subscription(Image, f"/{NODE_NAME}/panoptic", on_answer, qos, raw=True)
        deadline = time.monotonic() + 30.0
        while pub.get_subscription_count() == 0 or node.count_publishers(f"/{NODE_NAME}/panoptic") == 0:
            if time.monotonic() > deadline:
                raise RuntimeError("panoptic_node's input/output topics did not match within 30 s")
            executor.spin_once(timeout_sec=0.1)
        msgs = [numpy_to_image_msg(img, "bgr8") for img in images]
        period = 1.0 / args.rate
        t0 = time.monotonic()
        next_sample = t0
        bar = tqdm(total=args.frames, desc="soak", unit="frame")
        for i in range(args.frames):
            if proc.poll() is not None:
                raise RuntimeError(f"panoptic_node exited (code {proc.returncode}) after {i} frames")
            msg = msgs[i % len(msgs)]
            stamp = 1_000_000_000_000_000_000 + i * int(period * 1e9)
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
            msg.header.frame_id = "soak"
            pub.publish(msg)
            sent.append(stamp)
            bar.update(1)
            now = time.monotonic()
            if now >= next_sample or i == args.warmup:
                rss = rss_mb(proc.pid)
                if rss is not None:
                    samples.append((i, round(now - t0, 2), round(rss, 2)))
                next_sample = now + args.sample_every
                bar.set_postfix(rss=f"{rss or 0:.0f}MB", answered=len(answered), refresh=False)
            target = t0 + (i + 1) * period
            while True:   # spin until the next frame is due (answers are counted meanwhile)
                left = target - time.monotonic()
                if left <= 0:
                    break
                executor.spin_once(timeout_sec=min(left, 0.05))
        bar.close()
        end = time.monotonic() + 3.0   # the last frames' answers
        while time.monotonic() < end and not answered.issuperset(sent[-1:]):
            executor.spin_once(timeout_sec=0.05)
        rss = rss_mb(proc.pid)
        if rss is not None:
            samples.append((args.frames, round(time.monotonic() - t0, 2), round(rss, 2)))
        wall = time.monotonic() - t0
    finally:
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    return samples, sent, answered, wall


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
