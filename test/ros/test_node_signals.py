"""Clean exits, always (issue 20 item 4): SIGINT and SIGTERM at random moments of the node's life - during
start-up, while frames are in inference, during a background model reload - end panoptic_node with exit code 0
and no traceback (a SIGINT once crashed it: "RCLError: failed to initialize wait set: the given context is not
valid", exit 1).

Several nodes run at once (each under its own name, all on one image topic with frames flowing) so the many
signals fit a short test; the moments are drawn from a seeded generator printed on failure
(PANOPTIC_SIGNAL_SEED to replay, PANOPTIC_SIGNAL_RUNS for more runs). Start-up moments count from when the
process catches SIGTERM (its first statements install the handlers): before that the Python interpreter itself is
starting, where no program's own code can run.
"""
import os
import random
import signal
import time

import numpy as np
import pytest

pytest.importorskip("rclpy")
from conftest import image_msg  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

pytestmark = pytest.mark.ros
TOPIC = "/sig/image_raw"
MODEL = "stub?predict_delay=0.2"                  # every frame 0.2 s in the network: signals land mid-frame
RELOAD = "stub?predict_delay=0.2&load_delay=1.5&thing=crate"
RUNS = int(os.environ.get("PANOPTIC_SIGNAL_RUNS", "9"))
AT_ONCE = 4                                       # node processes alive together (2 busy cores)
PHASES = ("start-up", "mid-frame", "reload")


def plan(seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(RUNS):
        phase = PHASES[i % len(PHASES)]
        out.append({"name": f"sig_node_{i}", "phase": phase, "signal": (signal.SIGINT, signal.SIGTERM)[(i // 3) % 2],
                    # start-up: after spawn (imports, rclpy init, model load); else after the trigger
                    "delay": rng.uniform(0.0, 3.0) if phase == "start-up" else rng.uniform(0.0, 1.5)})
    return out


def catches_sigterm(pid: int) -> bool:
    """The process has a handler for SIGTERM (/proc/<pid>/status SigCgt)."""
    try:
        status = open(f"/proc/{pid}/status").read()
    except OSError:
        return True                                  # ended: nothing left to wait for
    caught = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught, 16) & (1 << (signal.SIGTERM - 1)))


def test_signals_at_random_moments_exit_0_without_traceback(ros_graph, node_launcher):
    seed = int(os.environ.get("PANOPTIC_SIGNAL_SEED", str(random.SystemRandom().randint(0, 10**6))))
    runs = plan(seed)
    pub = ros_graph.publisher(Image, TOPIC)
    frame = image_msg(np.full((48, 64, 3), 90, np.uint8), "rgb8")
    pending, live, done = list(runs), [], []
    last_frame = 0.0
    deadline = time.monotonic() + 60 + 20 * RUNS
    while (pending or live) and time.monotonic() < deadline:
        while pending and len(live) < AT_ONCE:
            run = pending.pop(0)
            run["proc"] = node_launcher({"model": MODEL, "stuff_area_threshold": 0}, name=run["name"], wait=False,
                                        remaps=[f"image:={TOPIC}"], factory="panoptic_test_stub_model:load")
            run["fire_at"] = None
            live.append(run)
        now = time.monotonic()
        if now - last_frame > 0.1:                # frames flowing to every node (10 Hz)
            pub.publish(frame)
            last_frame = now
        ros_graph.spin_for(0.02)
        for run in list(live):
            proc = run["proc"]
            if run["fire_at"] is None and run["phase"] == "start-up" and catches_sigterm(proc.proc.pid):
                run["fire_at"] = time.monotonic() + run["delay"]
            if run["fire_at"] is None and run["phase"] != "start-up" and "ready:" in proc.log():
                if run["phase"] == "reload":       # answered at once, the load runs in the background
                    ros_graph.set_parameters(f"/{run['name']}", {"model": RELOAD})
                run["fire_at"] = time.monotonic() + run["delay"]
            if run["fire_at"] is not None and time.monotonic() >= run["fire_at"] and "sent" not in run:
                run["sent"] = time.monotonic()
                if proc.proc.poll() is None:
                    proc.proc.send_signal(run["signal"])
            if "sent" in run and proc.proc.poll() is not None:
                run["code"] = proc.proc.returncode
                live.remove(run)
                done.append(run)
            elif "sent" in run and time.monotonic() - run["sent"] > 30:
                run["code"] = proc.stop(signal.SIGKILL, timeout=5)
                run["hung"] = True
                live.remove(run)
                done.append(run)
    assert not pending and not live, f"seed {seed}: runs did not finish in time"
    failures = []
    for run in done:
        log = run["proc"].log()
        bad = [line for line in log.splitlines() if "Traceback" in line or "Error" in line or "error" in line]
        if run["code"] != 0 or run.get("hung") or bad:
            failures.append(f"{run['name']} {run['phase']} {signal.Signals(run['signal']).name} after "
                            f"{run['delay']:.2f} s: exit {run['code']}{' (hung)' if run.get('hung') else ''}\n"
                            + log[-1500:])
    assert not failures, f"seed {seed}: {len(failures)} of {len(done)} exits not clean:\n" + "\n".join(failures)
