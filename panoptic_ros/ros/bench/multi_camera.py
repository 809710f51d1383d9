"""Several cameras: one panoptic_node batching N cameras vs N separate single-camera nodes, same model, one run.

For each N in --cameras (default 1 2 4) and each mode
  batched   one node with parameter images = N topics (their pending frames go through the network as one batch)
  separate  N nodes (the installed executable, one process each), one camera each
the benchmark publishes synthetic --size frames (bgr8, reliable) on the N camera topics at --rate Hz each (more
than the node can take: the newest-frame slots drop the rest, as on a robot), waits --warmup seconds, then counts
for --seconds the ~/instances answers per camera (by stamp) and their latency (publish wall time in the header
stamp -> arrival). Reported per run: total throughput (answers / s over all cameras), per-camera rates (min / max:
no camera may starve), latency p50 / p90, and the nodes' mean network batch size (from /diagnostics).
speedup[N] = batched total / separate total. Writes OUT/cameras.json and OUT/cameras.png; the node logs go to
OUT/cameras_logs/. Linux; needs rclpy and the built package (tools/run.sh). Every node gets the same parameters
(params/panoptic.yaml + --param NAME:=VALUE overrides + the model options, --threads). Options: cli/bench_ros.py.
"""
from __future__ import annotations

import logging
import os
import random
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from panoptic_ros.utils.json_io import write_json

from .. import node_process
from ..transport import use_large_message_profile
from .frames import bgr_scenes
from .multi_camera_graph import CameraGraph

log = logging.getLogger(__name__)
TOPIC = "/bench_cam{}/image_raw"
MODES = ("batched", "separate")


@dataclass
class MultiCameraOptions:
    """One `panoptic bench cameras` run (see the module docstring)."""
    out: Path
    model: str | None = None
    device: str | None = None
    runtime: str | None = None
    precision: str | None = None
    cameras: list = field(default_factory=lambda: [1, 2, 4])
    size: tuple = (640, 480)
    rate: float = 30.0
    seconds: float = 20.0
    warmup: float = 5.0
    threads: int = 0
    param: list = field(default_factory=list)
    start_timeout: float = 300.0
    seed: int = 0


def percentile(values, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def summarize(answers: dict[str, list[tuple[float, float]]], seconds: float) -> dict:
    """answers: camera -> [(arrival wall time, latency s)] within the window -> the run's figures."""
    rates = {cam: len(a) / seconds for cam, a in answers.items()}
    latencies = [lat for a in answers.values() for _, lat in a]
    lo, hi = min(rates.values()), max(rates.values())
    return {"total_fps": sum(rates.values()), "camera_fps": rates, "min_camera_fps": lo, "max_camera_fps": hi,
            "fairness": lo / hi if hi > 0 else 0.0, "starved": [c for c, r in rates.items() if r == 0.0],
            "latency_p50_ms": 1000 * percentile(latencies, 50), "latency_p90_ms": 1000 * percentile(latencies, 90)}


class _Nodes:
    """The node processes of one run (started with the same parameters), stopped on exit."""

    def __init__(self, args: MultiCameraOptions, mode: str, cameras: int, logs: Path, env: dict):
        base = node_process.node_command() + ["--ros-args", "--params-file", str(node_process.params_file()),
                                              "-p", f"model:={node_process.model_path(args.model)}"]
        for name in ("device", "runtime", "precision"):
            if getattr(args, name):
                base += ["-p", f"{name}:={getattr(args, name)}"]
        for p in args.param:
            base += ["-p", p]
        topics = [TOPIC.format(i) for i in range(cameras)]
        if mode == "batched":
            entries = ",".join(f"'cam{i}={t}'" for i, t in enumerate(topics))
            commands = [("bench_node", base + ["-p", f"images:=[{entries}]", "-r", "__node:=bench_node"])]
            self.outputs = {f"cam{i}": f"/bench_node/cam{i}/instances" for i in range(cameras)}
        else:
            commands = [(f"bench_node{i}", base + ["-r", f"image:={t}", "-r", f"__node:=bench_node{i}"])
                        for i, t in enumerate(topics)]
            self.outputs = {f"cam{i}": f"/bench_node{i}/instances" for i in range(cameras)}
        self.topics = dict(zip(self.outputs, topics))
        self.procs = []
        for name, cmd in commands:
            log_path = logs / f"{mode}{cameras}_{name}.log"
            logfile = open(log_path, "w")
            proc = subprocess.Popen(cmd, stdout=logfile, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            self.procs.append((proc, logfile, log_path))

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for proc, _, log_path in self.procs:
            node_process.wait_ready(proc, log_path, max(1.0, deadline - time.monotonic()))

    def stop(self) -> None:
        for proc, logfile, _ in self.procs:
            node_process.stop_process(proc)
            logfile.close()


def run(args: MultiCameraOptions) -> dict:
    if args.rate <= 0 or args.seconds <= 0 or args.warmup < 0 or min(args.cameras) < 1:
        raise ValueError("--rate and --seconds must be > 0, --warmup >= 0, --cameras >= 1")
    out = Path(args.out)
    logs = out / "cameras_logs"
    logs.mkdir(parents=True, exist_ok=True)
    domain = random.randint(1, 100)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONUNBUFFERED="1")
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    use_large_message_profile(env)
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")})
    use_large_message_profile()
    width, height = args.size
    images = bgr_scenes(4, width, height, args.seed)
    graph = CameraGraph(domain)
    rows = []
    try:
        for cameras in tqdm(args.cameras, desc="cameras", unit="config"):
            for mode in MODES:
                nodes = _Nodes(args, mode, cameras, logs, env)
                try:
                    nodes.wait_ready(args.start_timeout)
                    answers, batch = graph.drive(nodes.topics, nodes.outputs, images, rate=args.rate,
                                                 warmup=args.warmup, seconds=args.seconds)
                finally:
                    nodes.stop()
                row = {"cameras": cameras, "mode": mode, "processes": len(nodes.procs),
                       **summarize(answers, args.seconds), "batch_size_mean": batch}
                rows.append(row)
                log.info("%d camera(s), %s: %.1f frames/s total, per camera %.1f..%.1f, latency p50 %.0f ms", cameras,
                         mode, row["total_fps"], row["min_camera_fps"], row["max_camera_fps"], row["latency_p50_ms"])
    finally:
        graph.close()
    speedup = {}
    for cameras in args.cameras:
        by_mode = {r["mode"]: r for r in rows if r["cameras"] == cameras}
        sep = by_mode["separate"]["total_fps"]
        speedup[str(cameras)] = by_mode["batched"]["total_fps"] / sep if sep > 0 else float("nan")
    json_path, png_path = out / "cameras.json", out / "cameras.png"
    result = {"benchmark": "cameras", "model": str(args.model or "default"), "device": args.device,
              "runtime": args.runtime, "precision": args.precision, "params": list(args.param),
              "size": f"{width}x{height}", "rate_hz_per_camera": args.rate, "seconds": args.seconds,
              "warmup_s": args.warmup, "cpu_count": os.cpu_count(), "rows": rows, "speedup": speedup,
              "node_threads": args.threads or env.get("OMP_NUM_THREADS", "default"),
              "json": str(json_path), "plot": str(png_path),
              "target": "4 cameras: batched total >= 1.5x separate total, no camera starves"}
    if "4" in speedup:
        batched4 = next(r for r in rows if r["cameras"] == 4 and r["mode"] == "batched")
        result["target_met"] = bool(speedup["4"] >= 1.5 and not batched4["starved"])
    _plot(rows, speedup, png_path)
    write_json(json_path, result)
    print(format_table(result))
    return result


def _plot(rows: list[dict], speedup: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = sorted({r["cameras"] for r in rows})
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    x = np.arange(len(counts))
    for i, mode in enumerate(MODES):
        sel = [next(r for r in rows if r["cameras"] == c and r["mode"] == mode) for c in counts]
        ax1.bar(x + (i - 0.5) * 0.38, [r["total_fps"] for r in sel], 0.38, label=mode)
        ax1.scatter(x + (i - 0.5) * 0.38, [r["min_camera_fps"] * r["cameras"] for r in sel],
                    marker="_", s=400, color="k", zorder=3)
        ax2.plot(counts, [r["latency_p50_ms"] for r in sel], marker="o", label=f"{mode} p50")
        ax2.plot(counts, [r["latency_p90_ms"] for r in sel], marker="x", linestyle="--", label=f"{mode} p90")
    ax1.set_xticks(x, [f"{c} cam\n{speedup.get(str(c), float('nan')):.2f}x" for c in counts])
    ax1.set_ylabel("total answers / s (bar: cameras x slowest camera)")
    ax1.set_title("throughput: one batched node vs separate nodes")
    ax1.legend()
    ax2.set_xlabel("cameras")
    ax2.set_ylabel("latency ms (stamp -> answer)")
    ax2.set_title("latency")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def format_table(result: dict) -> str:
    lines = [f"{'cameras':>8}{'mode':>10}{'total/s':>9}{'min cam/s':>10}{'max cam/s':>10}{'p50 ms':>8}{'p90 ms':>8}"
             f"  batch"]
    for r in result["rows"]:
        lines.append(f"{r['cameras']:>8}{r['mode']:>10}{r['total_fps']:9.1f}{r['min_camera_fps']:10.1f}"
                     f"{r['max_camera_fps']:10.1f}{r['latency_p50_ms']:8.0f}{r['latency_p90_ms']:8.0f}  "
                     + ", ".join(f"{v}" for v in r["batch_size_mean"].values()))
    lines.append("speedup (batched / separate): " + ", ".join(f"{c} cam {s:.2f}x" for c, s in
                                                              result["speedup"].items()))
    return "\n".join(lines)
