"""`panoptic bench train`: the data pipeline with 0 and 1 workers and the training step (tiny config) write
train.json with throughput numbers and train.png (COCO-like generation itself: test/data/test_coco_panoptic.py)."""
import json
from pathlib import Path

import pytest

from panoptic_ros.cli.main import main

SMOKE = Path(__file__).resolve().parents[2] / "panoptic_ros" / "configs" / "smoke.yaml"


def test_bench_train_writes_loader_and_step_throughput(tmp_path, synthetic_dataset):
    out = tmp_path / "bench"
    assert main(["bench", "train", "--out", str(out), "--data", str(synthetic_dataset), "--workers", "0", "1",
                 "--batch-size", "1", "--config", str(SMOKE), "--step-iters", "1", "--device", "cpu"]) == 0
    result = json.loads((out / "train.json").read_text())
    assert result["images"] == 6 and result["data"] == str(synthetic_dataset)
    assert [r["workers"] for r in result["loader"]] == [0, 1]
    assert all(r["images"] == 5 and r["images_per_s"] > 0 for r in result["loader"])  # first batch untimed
    assert result["target_generation_ms_640x480"] > 0   # its value is timed (test_stage_times_... checks the labels)
    assert set(result["stages_ms"]) >= {"decode_image", "decode_png", "augment", "targets"}
    assert result["step"]["images_per_s"] > 0 and result["step"]["input_size"] == [128, 171]  # 160x120 at 128/192
    assert (out / "train.png").stat().st_size > 1000


class _Clock:
    """A fake time.perf_counter: returns ``now``; each call then advances it by the next of ``steps`` (cycled)."""

    def __init__(self, steps=(0.0,)):
        self.now, self.steps, self.calls = 0.0, list(steps), 0

    def perf_counter(self):
        t = self.now
        self.now += self.steps[self.calls % len(self.steps)]
        self.calls += 1
        return t


def _dataset(root):
    from panoptic_ros.bench import train as bench_train
    from panoptic_ros.data import CocoPanopticDataset, build_transforms

    cfg = bench_train._config(str(SMOKE))
    return cfg, CocoPanopticDataset(root, transforms=build_transforms(cfg.data, train=True), compact=True)


def test_stage_times_names_each_interval_and_takes_medians(synthetic_dataset, monkeypatch):
    """Each stage's ms is the interval between its own two clock reads (a fake clock that advances 1..6 ms
    between the seven reads of one image tells swapped labels apart; issue 19 item 9)."""
    from panoptic_ros.bench import train as bench_train

    monkeypatch.setattr(bench_train, "time", _Clock([0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.1]))
    _, dataset = _dataset(synthetic_dataset)
    stages = bench_train.stage_times(dataset, 16)
    assert stages == pytest.approx({"decode_image": 1.0, "decode_png": 2.0, "targets_640x480": 3.0, "augment": 4.0,
                                    "targets": 5.0, "to_tensor": 6.0})


def test_loader_and_step_throughput_from_a_fake_clock(synthetic_dataset, monkeypatch):
    """images/s = images after the untimed first batch / their seconds; the training step's images/s = batch /
    median step time with the warm-up step (5 s here) left out."""
    from panoptic_ros.bench import train as bench_train

    clock = _Clock([1.0, 2.0, 4.0])          # t_start 0, first batch at 1, timing from 3, end at 7
    monkeypatch.setattr(bench_train, "time", clock)
    cfg, dataset = _dataset(synthetic_dataset)
    r = bench_train.loader_throughput(dataset, 0, batch_size=2)
    assert (r["images"], r["first_batch_s"], r["seconds"]) == (4, 1.0, 4.0) and r["images_per_s"] == 1.0

    step_seconds = iter([5.0, 0.1, 0.3, 0.2])
    real_build = bench_train.build_optimizer

    def build_optimizer(cfg, model):      # each optimizer step takes the next duration on the fake clock
        optimizer = real_build(cfg, model)
        step = optimizer.step

        def timed_step(*args, **kwargs):
            clock.now += next(step_seconds)
            return step(*args, **kwargs)
        optimizer.step = timed_step
        return optimizer

    monkeypatch.setattr(bench_train, "build_optimizer", build_optimizer)
    clock.steps = [0.0]
    step = bench_train.step_throughput(cfg, dataset, batch_size=2, iters=3, device="cpu")
    assert step["steps"] == 3 and step["step_s_median"] == pytest.approx(0.2)
    assert step["images_per_s"] == pytest.approx(2 / 0.2)
