"""Multi-process training with a validation that takes longer than the collective timeout: under torchrun with
2 gloo processes, rank 0 validates while rank 1 waits for it at the wait_for_main barrier (solver.wait_timeout),
not at a collective with solver.dist_timeout, so the job completes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from panoptic_ros.data import make_synthetic_dataset

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "panoptic_ros" / "configs" / "smoke.yaml"
DIST_TIMEOUT = 2.5


@pytest.mark.slow
def test_validation_longer_than_the_collective_timeout_completes(tmp_path):
    train = make_synthetic_dataset(tmp_path / "train", 2, seed=3, width=128, height=96)
    val = make_synthetic_dataset(tmp_path / "val", 40, seed=4, width=640, height=480)
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "panoptic_ros.cli.main", "train", "--config", str(SMOKE), f"data.train={train}", f"data.val={val}",
           f"solver.output_dir={out}", "data.batch_size=1", "data.num_workers=0", "solver.epochs=1",
           "inference.device=cpu", "inference.input_size=480", "inference.max_input_size=640",
           "inference.fuse_resolution=image", f"solver.dist_timeout={DIST_TIMEOUT}", "solver.wait_timeout=900",
           "--eval-every", "1", "--max-iters", "1", "--precise-bn", "0", "--no-progress"]
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    history = json.loads((out / "train_history.json").read_text())
    # the test means something only if validation outlasted the collective timeout
    assert history[0]["val_seconds"] > DIST_TIMEOUT + 1, history[0]["val_seconds"]
    assert 0.0 <= history[0]["val"]["pq"] <= 1.0 and (out / "best.safetensors").is_file()
