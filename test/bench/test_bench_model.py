"""`panoptic bench model`: per-stage timing JSON + plot, fuse share, clear error without a model."""
import json
from pathlib import Path

import pytest

from panoptic_ros.cli.main import main
from panoptic_ros.config import load_config
from panoptic_ros.data.synth import CATEGORIES
from panoptic_ros.modeling import build_model, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def test_bench_model_writes_stage_timings(tmp_path):
    cfg = load_config(ROOT / "panoptic_ros" / "configs" / "smoke.yaml", ["inference.device=cpu"])
    ckpt = save_checkpoint(tmp_path / "m.safetensors", build_model(cfg, CATEGORIES), cfg, CATEGORIES)
    out = tmp_path / "bench"
    assert main(["bench", "model", "--model", str(ckpt), "--sizes", "160x120", "96x64", "--repeats", "2",
                 "--warmup", "1", "--variants", "torch:fp32:image", "torch:fp32:output", "--out", str(out)]) == 0
    result = json.loads((out / "model.json").read_text())
    assert (out / "model.png").stat().st_size > 1000
    rows = result["rows"]
    assert [(r["width"], r["height"], r["fuse_resolution"]) for r in rows] == [
        (160, 120, "image"), (160, 120, "output"), (96, 64, "image"), (96, 64, "output")]
    for r in rows:
        assert set(r["stages_ms"]) == {"preprocess", "network", "detections", "mapping", "merge"}
        assert all(v >= 0 for v in r["stages_ms"].values()) and r["stages_ms"]["network"] > 0
        assert r["total_ms"] >= sum(r["stages_ms"].values()) * 0.5 and r["fps"] == pytest.approx(1000 / r["total_ms"])
        assert r["postprocess_fraction"] == pytest.approx(r["postprocess_ms"] / r["total_ms"])
        assert r["runtime"] == "torch" and r["precision"] == "fp32"
    assert rows[0]["speedup"] == 1.0 and rows[1]["speedup"] == pytest.approx(rows[0]["total_ms"] / rows[1]["total_ms"])
    assert result["best_speedup"]["160x120"] == max(rows[0]["speedup"], rows[1]["speedup"])


def test_bench_model_without_checkpoint_is_a_one_line_error(tmp_path, capsys):
    assert main(["bench", "model", "--model", str(tmp_path / "none.safetensors"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "none.safetensors" in err
