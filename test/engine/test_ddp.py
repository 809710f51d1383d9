"""DistributedDataParallel on CPU: 2 gloo processes started by torchrun train one step on a tiny dataset;
both ranks must end with the same weights, and those must differ from the initial ones."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from panoptic_ros.data import make_synthetic_dataset

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "panoptic_ros" / "configs" / "smoke.yaml"


@pytest.mark.slow
def test_two_gloo_ranks_hold_identical_weights_after_one_step(tmp_path):
    data = make_synthetic_dataset(tmp_path / "data", 4, seed=3, width=128, height=96)
    dump = tmp_path / "dump"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "panoptic_ros.cli.main", "train", "--config", str(SMOKE), f"data.train={data}",
           f"solver.output_dir={tmp_path / 'run'}", "data.batch_size=1", "data.num_workers=0", "solver.epochs=1",
           "inference.device=cpu", "--max-iters", "1", "--no-progress", "--dump-weights", str(dump)]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]

    init = [load_file(dump / f"init_rank{r}.safetensors") for r in (0, 1)]
    step = [load_file(dump / f"iter1_rank{r}.safetensors") for r in (0, 1)]
    assert set(step[0]) == set(step[1]) and len(step[0]) > 10
    for name in step[0]:
        assert torch.equal(init[0][name], init[1][name]), f"ranks started from different {name}"
        assert torch.equal(step[0][name], step[1][name]), f"ranks diverged in {name} after one DDP step"
    changed = [n for n in step[0] if not torch.equal(step[0][n], init[0][n])]
    assert len(changed) > len(step[0]) // 4, "one optimizer step should change most weights"
    # only rank 0 writes the checkpoint; it holds the stepped parameters
    ckpt = load_file(tmp_path / "run" / "checkpoints" / "epoch_0001.safetensors")
    for name, value in step[0].items():
        assert torch.equal(ckpt[name], value)
