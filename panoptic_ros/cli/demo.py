"""`panoptic demo`: the node on a real ROS 2 graph, fed by a replayed camera bag, measured end to end.

1. makes the sample bag with ground truth in OUT/sample (once): a short synthetic video (30 640x480 frames at
   10 Hz, seed 0; a camera panning across a scene, objects moving, entering, leaving, crossing) whose ground
   truth keeps each object's id across frames (`panoptic bag make-sample --sequence`),
2. starts panoptic_node (the installed executable, as `ros2 run` would) with params/panoptic.yaml and the
   default model (or --model; --runtime / --precision / --param name:=value set node parameters) on a private
   ROS_DOMAIN_ID,
3. starts `panoptic bag record-eval` on the node's outputs, then `panoptic bag play` on the sample bag at a
   rate the model sustains (measured here first, or --rate), reliable QoS so 640x480 frames arrive,
4. scores the received panoptic images against the sample's ground truth: PQ/SQ/RQ per frame, and STQ
   (AQ x SQ) with ID switches per 100 frames over the video, which measure whether the node's segment ids stay
   with the objects (its tracking parameter; without tracking they are renumbered every frame),
5. prints a summary and writes OUT/summary.json (with the runtime and precision the node ran); the output
   bag (OUT/demo_output), overlay JPEGs (OUT/overlays), the latency plot and the logs of the three processes
   stay in OUT.
Every child process is stopped on every exit path (success, error, Ctrl-C).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from panoptic_ros.ros import node_process
from panoptic_ros.ros.names import NODE_NAME

from .options import check_model_path

INPUT_TOPIC = "/camera/image_raw"
SAMPLE_FPS = 10.0


def add_parser(subparsers, name: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(name, help="run the node on a replayed sample bag and print FPS, latency and PQ",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default runs/demo)")
    p.add_argument("--model", default=None, help="checkpoint (.safetensors); default: the shipped model")
    p.add_argument("--frames", type=int, default=30, help="frames of the sample bag (made once)")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--rate", type=float, default=None,
                   help="playback rate factor of the 10 Hz sample (default: half the model's measured speed, "
                        "between 0.1 and 1)")
    p.add_argument("--params-file", type=Path, default=None, help="node parameters (default params/panoptic.yaml)")
    p.add_argument("--param", action="append", default=[], metavar="NAME:=VALUE",
                   help="extra node parameter, e.g. --param input_size:=320 (repeatable)")
    p.add_argument("--runtime", default=None, help="node parameter runtime (auto | torch | onnxruntime | openvino; "
                                                   "= --param runtime:=R)")
    p.add_argument("--precision", default=None, help="node parameter precision (auto | fp32 | bf16 | fp16; "
                                                     "= --param precision:=P)")
    p.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID for the demo (default: random 1-100)")
    p.add_argument("--timeout", type=float, default=300.0, help="overall limit in seconds")
    p.add_argument("--save-overlays", type=int, default=30, help="overlay JPEGs to keep")
    return p


def run(args) -> int:
    check_model_path(args.model)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    model = node_process.model_path(args.model)
    sample = out / "sample"
    bag, gt = sample / "sample_bag", sample / "gt"
    if not (bag / "metadata.yaml").is_file() or not _is_sequence(gt):
        from panoptic_ros.ros.bag.make_sample import make_sample
        print(f"[demo] writing the sample bag (a {args.frames}-frame {args.width}x{args.height} video) to {sample}")
        make_sample(sample, frames=args.frames, width=args.width, height=args.height, seed=0, fps=SAMPLE_FPS,
                    topic=INPUT_TOPIC, force=True, sequence=True)
    else:
        print(f"[demo] using the sample bag in {sample} (delete the folder to make a new one)")
    params_file = args.params_file or node_process.params_file()
    if not params_file.is_file():
        raise FileNotFoundError(f"parameters file not found: {params_file}")
    node_params = list(args.param) + [f"{name}:={value}" for name, value in
                                      (("runtime", args.runtime), ("precision", args.precision)) if value]
    values = node_process.node_values(params_file, node_params)  # checks names and values before anything starts
    if args.rate is None:
        fps = _measure_model_fps(model, gt, values)
        # half the measured speed leaves room for the node's conversions, the player and the recorder; at
        # least 1 FPS so the demo stays short (a slower model drops frames: the node keeps only the newest)
        rate = max(0.1, min(1.0, 0.5 * fps / SAMPLE_FPS))
        print(f"[demo] model runs at {fps:.1f} FPS here: playing the {SAMPLE_FPS:g} Hz bag at rate {rate:.2f}")
    else:
        rate = args.rate
        if rate <= 0:
            raise ValueError(f"--rate must be positive, got {rate}")

    # fresh outputs of this run
    for name in ("demo_output", "overlays"):
        _remove(out / name)
    for name in ("report.json", "latency.png", "summary.json", "publish_log.jsonl", ".recorder_ready"):
        (out / name).unlink(missing_ok=True)

    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(args.domain_id if args.domain_id is not None else random.randint(1, 100))
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    from panoptic_ros.ros.transport import use_large_message_profile
    use_large_message_profile(env)  # the package's Fast DDS profile for all three processes (see README)
    env["PYTHONUNBUFFERED"] = "1"
    print(f"[demo] ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}, logs in {out}")

    procs = _Children(out, env)
    deadline = time.monotonic() + args.timeout
    old_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        node_cmd = node_process.node_command() + ["--ros-args", "--params-file", str(params_file),
                                      "-r", f"image:={INPUT_TOPIC}", "-p", f"model:={model}"]
        for p in node_params:
            node_cmd += ["-p", p]
        node = procs.start("node", node_cmd)
        cli = [sys.executable, "-m", "panoptic_ros.cli.main", "bag"]
        ready = out / ".recorder_ready"
        recorder = procs.start("recorder", cli + [
            "record-eval", "--out", str(out), "--node", f"/{NODE_NAME}", "--publish-log",
            str(out / "publish_log.jsonl"), "--gt", str(gt), "--bag-name", "demo_output",
            "--save-overlays", str(args.save_overlays), "--ready-file", str(ready),
            "--idle-timeout", str(max(5.0, 3.0 / rate / SAMPLE_FPS)), "--wait-timeout", str(args.timeout)])
        procs.wait_for(lambda: ready.is_file(), deadline, "the node and the recorder to start",
                       must_live=(node, recorder))
        player = procs.start("player", cli + [
            "play", "--bag", str(bag), "--rate", f"{rate:.4f}", "--wait-subscribers", "1",
            "--start-delay", "0.5", "--publish-log", str(out / "publish_log.jsonl")])
        procs.wait_for(lambda: player.poll() is not None, deadline, "the player", must_live=(node, recorder))
        if player.returncode != 0:
            raise RuntimeError(f"the player failed (exit {player.returncode}); see {procs.log('player')}")
        procs.wait_for(lambda: recorder.poll() is not None, deadline, "the recorder", must_live=(node,))
        if recorder.returncode != 0:
            raise RuntimeError(f"the recorder failed (exit {recorder.returncode}); see {procs.log('recorder')}")
    finally:
        procs.stop_all()
        signal.signal(signal.SIGTERM, old_term)
    report = json.loads((out / "report.json").read_text())
    summary = _summary(report, out, model, rate)
    summary.update(_node_runtime(procs.log("node"), values))
    summary["tracking"] = values.get("tracking", node_process.node_default("tracking"))
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    _print_summary(summary)
    return 0 if summary["frames_received"] else 1


# ----------------------------------------------------------------------------------------------- pieces
def _is_sequence(gt: Path) -> bool:
    """The sample's ground truth exists and is a video (older demo folders hold independent scenes)."""
    try:
        return bool(json.loads((gt / "panoptic.json").read_text()).get("info", {}).get("sequence"))
    except (OSError, ValueError):
        return False


def _node_runtime(node_log: Path, values: dict) -> dict:
    """The runtime and precision the node ran (from its start-up line) and the requested parameter values."""
    import re

    text = node_log.read_text(errors="replace") if node_log.is_file() else ""
    found = re.search(r"ready: model .*?, runtime (\S+), precision ([^,\s]+)", text)
    return {"runtime": found.group(1) if found else None, "precision": found.group(2) if found else None,
            "requested": {"runtime": values.get("runtime", "auto"), "precision": values.get("precision", "auto")}}


def _measure_model_fps(model_path: Path, gt: Path, values: dict) -> float:
    """Frames per second of model.predict on sample frames with the node's settings (2 warm-up frames,
    median of the next 5), in this process before the node starts. Like the node, predict runs in a worker
    thread (on a busy CPU torch's main-thread timings can be several times slower than the node's)."""
    import statistics
    from concurrent.futures import ThreadPoolExecutor

    from panoptic_ros.data import read_image
    from panoptic_ros.pipeline import build_pipeline
    from panoptic_ros.ros.params import apply_values

    model = build_pipeline(model_path, device=values.get("device"), runtime=values.get("runtime"),
                           precision=values.get("precision"))   # what the node will run
    inf = apply_values(model.cfg, values).inference
    images = [read_image(p) for p in sorted((gt / "images").iterdir())[:7]]

    def timed() -> list[float]:
        times = []
        for i, img in enumerate(images):
            t0 = time.perf_counter()
            model.predict([img], inference=inf)
            if i >= 2:
                times.append(time.perf_counter() - t0)
        return times

    with ThreadPoolExecutor(1) as pool:
        times = pool.submit(timed).result()
    model.close()
    return 1.0 / statistics.median(times) if times else 1.0


def _remove(path: Path) -> None:
    import shutil
    if path.is_dir():
        shutil.rmtree(path)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


class _Children:
    """Child processes with their logs in OUT/<name>.log; stopped with SIGINT, then SIGTERM, then SIGKILL."""

    def __init__(self, out: Path, env: dict):
        self.out, self.env = out, env
        self.procs: dict[str, subprocess.Popen] = {}
        self._logs = {}

    def log(self, name: str) -> Path:
        return self.out / f"{name}.log"

    def start(self, name: str, cmd: list[str]) -> subprocess.Popen:
        f = open(self.log(name), "w")
        self._logs[name] = f
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        self.procs[name] = proc
        return proc

    def wait_for(self, done, deadline: float, what: str, must_live=()) -> None:
        while not done():
            for proc in must_live:
                if proc.poll() is not None:
                    name = next(n for n, p in self.procs.items() if p is proc)
                    raise RuntimeError(f"the {name} exited (code {proc.returncode}) while waiting for {what}:\n"
                                       f"{_tail(self.log(name))}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what} (see the logs in {self.out})")
            time.sleep(0.1)

    def stop_all(self) -> None:
        # player first, then recorder (writes its report on SIGINT), the node last
        for name in ("player", "recorder", "node"):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            node_process.stop_process(proc, sigint_wait=15.0)
        for f in self._logs.values():
            f.close()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _summary(report: dict, out: Path, model: Path, rate: float) -> dict:
    pq = report.get("pq") or {}
    stq = report.get("stq") or {}
    return {
        "frames_sent": report.get("frames_sent"), "frames_received": report.get("frames_received"),
        "drop_rate": report.get("drop_rate"), "throughput_fps": report.get("throughput_fps"),
        "input_fps": report.get("input_fps"), "latency_ms": report.get("latency_ms"),
        "pq": {k: pq.get(k) for k in ("All", "Things", "Stuff") if k in pq},
        "frames_with_gt": pq.get("frames_with_gt"), "model": str(model), "rate": rate,
        "stq": {k: stq.get(k) for k in ("stq", "aq", "sq", "id_switches", "id_switches_per_100", "frames")}
        if stq else None,
        "folder": str(out.resolve()), "output_bag": report.get("output_bag"), "overlays": report.get("overlays"),
        "report": str(out / "report.json"),
    }


def _print_summary(s: dict) -> None:
    lat = s.get("latency_ms") or {}

    def f(v, fmt="{:.1f}"):
        return "n/a" if v is None else fmt.format(v)

    print("\n=== panoptic demo ===")
    print(f"frames sent / received : {s['frames_sent']} / {s['frames_received']} "
          f"(drop rate {f(s['drop_rate'], '{:.0%}')})")
    print(f"runtime / precision    : {s.get('runtime') or 'n/a'} / {s.get('precision') or 'n/a'}")
    print(f"throughput             : {f(s['throughput_fps'])} FPS (input {f(s['input_fps'])} FPS)")
    print(f"end-to-end latency     : p50 {f(lat.get('p50'))} ms, p90 {f(lat.get('p90'))} ms, "
          f"max {f(lat.get('max'))} ms")
    for k, v in s["pq"].items():
        print(f"{k:<23}: PQ {100 * v['pq']:.1f}  SQ {100 * v['sq']:.1f}  RQ {100 * v['rq']:.1f}  (n={v['n']})")
    t = s.get("stq")
    tracking = s.get("tracking")
    mode = "" if tracking is None else ("; node tracking on" if tracking else "; node tracking off")
    if t:
        print(f"{'tracking':<23}: STQ {100 * t['stq']:.1f}  AQ {100 * t['aq']:.1f}  SQ {100 * t['sq']:.1f}  "
              f"ID switches {t['id_switches']} ({t['id_switches_per_100']:.1f} per 100 frames, n={t['frames']}{mode})")
    else:
        print(f"{'tracking':<23}: STQ n/a (no frame with video ground truth{mode})")
    print(f"output folder          : {s['folder']}  (bag: demo_output/, overlays/, report.json, latency.png)")
