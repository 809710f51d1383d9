"""`panoptic bench train`: the data pipeline with 0 and 1 workers and the training step (tiny config) write
train.json with throughput numbers and train.png (COCO-like generation itself: test/data/test_coco_panoptic.py)."""
import json
from pathlib import Path

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
    assert 0 < result["target_generation_ms_640x480"] < 1000
    assert set(result["stages_ms"]) >= {"decode_image", "decode_png", "augment", "targets"}
    assert result["step"]["images_per_s"] > 0 and result["step"]["input_size"] == [128, 171]  # 160x120 at 128/192
    assert (out / "train.png").stat().st_size > 1000
