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
                 "--warmup", "1", "--out", str(out)]) == 0
    result = json.loads((out / "model.json").read_text())
    assert (out / "model.png").stat().st_size > 1000
    assert [(r["width"], r["height"]) for r in result["rows"]] == [(160, 120), (96, 64)]
    for r in result["rows"]:
        assert set(r["stages_ms"]) == {"preprocess", "network", "detections", "upsample", "fuse"}
        assert all(v > 0 for v in r["stages_ms"].values())
        assert r["total_ms"] > 0 and r["fps"] == pytest.approx(1000 / r["total_ms"])
        assert r["fuse_fraction"] == pytest.approx(r["stages_ms"]["fuse"] / r["total_ms"])
    assert result["fuse_under_10_percent"] == all(r["fuse_fraction"] < 0.1 for r in result["rows"])


def test_bench_model_without_checkpoint_is_a_one_line_error(tmp_path, capsys):
    assert main(["bench", "model", "--model", str(tmp_path / "none.safetensors"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "none.safetensors" in err
