"""`panoptic demo`: node + player + recorder processes on a private ROS domain, summary with FPS, latency, PQ.

The node runs the test-only oracle model (test/ros/bag_oracle_model.py, started through the test launcher
test/ros/node_with_test_model.py in place of the installed executable): it returns each sample frame's ground
truth, so the demo's PQ must be exactly 1 on the frames that went through the graph, and the summary must count
them consistently.
"""
import json
import random
import sys
from pathlib import Path

import pytest

from panoptic_ros.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
NODE_EXECUTABLE = ROOT / ".ws" / "install" / "panoptic_ros" / "lib" / "panoptic_ros" / "panoptic_node"
FRAMES = 4


@pytest.mark.ros
@pytest.mark.slow
def test_demo_runs_the_graph_and_scores_pq(tmp_path, monkeypatch, capsys):
    if not NODE_EXECUTABLE.exists():
        pytest.skip("panoptic_node is not installed: run bash tools/setup.sh")
    from panoptic_ros.ros.bag.make_sample import make_sample

    out = tmp_path / "demo"
    # the demo makes its sample once; made here first so the oracle can be pointed at its ground truth
    make_sample(out / "sample", frames=FRAMES, width=640, height=480, seed=0, sequence=True)
    import panoptic_ros.cli.demo as demo

    launcher = ROOT / "test" / "ros" / "node_with_test_model.py"
    monkeypatch.setattr(demo.node_process, "node_command",
                        lambda: [sys.executable, str(launcher), "--factory", "bag_oracle_model:load"])
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    code = main(["demo", "--out", str(out), "--model", str(out / "sample" / "gt" / "panoptic.json"),
                 "--rate", "0.3", "--domain-id", str(random.SystemRandom().randint(1, 100)), "--timeout", "240"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_sent"] == FRAMES and 1 <= summary["frames_received"] <= FRAMES
    assert summary["latency_ms"]["count"] == summary["frames_received"] and summary["latency_ms"]["p50"] > 0
    assert summary["pq"]["All"]["pq"] == pytest.approx(1.0, abs=1e-12)
    assert summary["frames_with_gt"] == summary["frames_received"]
    # the sample is a video: STQ over the received frames (SQ exact with the oracle; AQ depends on the node's ids)
    stq = summary["stq"]
    assert stq["frames"] == summary["frames_received"] and stq["sq"] == pytest.approx(1.0)
    assert 0.0 < stq["stq"] <= 1.0 and stq["id_switches"] >= 0
    assert "STQ " in printed and "ID switches" in printed
    assert (out / "demo_output" / "metadata.yaml").is_file() and list((out / "overlays").glob("*.jpg"))
    assert "=== panoptic demo ===" in printed and f"frames sent / received : {FRAMES} /" in printed
    assert str(out.resolve()) in printed
    # the node was stopped by the demo (SIGINT -> clean exit), not left running
    assert "error" not in (out / "node.log").read_text().lower()


def test_demo_without_model_is_one_clear_error(tmp_path, capsys):
    code = main(["demo", "--out", str(tmp_path / "d"), "--model", str(tmp_path / "missing.safetensors")])
    err = capsys.readouterr().err
    assert code == 2
    assert "model file not found" in err and len(err.strip().splitlines()) == 1
