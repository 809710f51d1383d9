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


class _FakeClock:
    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        return self.now


def test_benchmark_variant_aggregates_the_timed_runs_exactly(monkeypatch):
    """Stage medians, total median / p90, FPS and the post-processing share from a stub pipeline with fixed stage
    times on a fake clock (issue 19 item 9: the end-to-end test above can only check keys and positivity).
    Means differ from medians here, and the warm-up run takes 1 s per stage: counted, it would move every median."""
    from types import SimpleNamespace

    import numpy as np

    from panoptic_ros.bench import model as bench_model

    clock = _FakeClock()
    monkeypatch.setattr(bench_model, "time", clock)
    ms = {"preprocess": [1, 9, 2], "network": [50, 10, 20], "detections": [4, 4, 5], "mapping": [2, 1, 1],
          "merge": [6, 8, 7]}
    walls = [1.0, 0.050, 0.090, 0.060]                     # seconds per pipeline.run: warm-up, then 3 timed

    class Pipeline:
        calls = 0

        def run(self, images, inference):
            i = Pipeline.calls
            Pipeline.calls += 1
            clock.now += walls[i]
            seconds = {k: (1.0 if i == 0 else v[i - 1] / 1000) for k, v in ms.items()}
            segments = [{}] * (10 + i)
            return SimpleNamespace(stage_seconds=lambda policy: seconds,
                                   detections=[SimpleNamespace(scores=[0.5] * (20 + i))],
                                   results={policy: [SimpleNamespace(segments=segments)] for policy in ("p",)})

    row = bench_model.benchmark_variant(Pipeline(), None, SimpleNamespace(merge_policy="p"), repeats=3, warmup=1)
    assert row["stages_ms"] == pytest.approx({"preprocess": 2, "network": 20, "detections": 4, "mapping": 1,
                                              "merge": 7})
    assert row["total_ms"] == pytest.approx(60) and row["fps"] == pytest.approx(1000 / 60)
    assert row["total_p90_ms"] == pytest.approx(np.percentile([50, 90, 60], 90))
    assert row["postprocess_ms"] == pytest.approx(4 + 1 + 7) and row["postprocess_fraction"] == pytest.approx(12 / 60)
    assert (row["detections"], row["segments"]) == (23, 13)   # the last timed run's
