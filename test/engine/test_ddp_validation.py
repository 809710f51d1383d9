"""Multi-process training with a validation that takes longer than the collective timeout: under torchrun with
2 gloo processes, rank 0 validates while rank 1 waits for it at the wait_for_main barrier (solver.wait_timeout),
not at a collective with solver.dist_timeout, so the job completes.

Validation is held for DIST_TIMEOUT + 2 s by slow_validation_main.py (a sleep before the real evaluation): the
test means the same on a fast and a slow machine (it once needed 40 real 640x480 images to outlast the timeout,
and a fast machine validated them in less)."""
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
VALIDATION_DELAY = DIST_TIMEOUT + 2.0
LAUNCHER = Path(__file__).with_name("slow_validation_main.py")


@pytest.mark.slow
def test_validation_longer_than_the_collective_timeout_completes(tmp_path):
    train = make_synthetic_dataset(tmp_path / "train", 2, seed=3, width=128, height=96)
    val = make_synthetic_dataset(tmp_path / "val", 2, seed=4, width=128, height=96)
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               PANOPTIC_TEST_VAL_DELAY=str(VALIDATION_DELAY))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(LAUNCHER), "train", "--config", str(SMOKE), f"data.train={train}", f"data.val={val}",
           f"solver.output_dir={out}", "data.batch_size=1", "data.num_workers=0", "solver.epochs=1",
           "inference.device=cpu", f"solver.dist_timeout={DIST_TIMEOUT}", "solver.wait_timeout=900",
           "--eval-every", "1", "--max-iters", "1", "--precise-bn", "0", "--no-progress"]
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    history = json.loads((out / "train_history.json").read_text())
    assert history[0]["val_seconds"] >= VALIDATION_DELAY   # the delay was applied (sleep never returns early)
    assert 0.0 <= history[0]["val"]["pq"] <= 1.0 and (out / "best.safetensors").is_file()
