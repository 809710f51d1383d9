"""`panoptic bench head` and the `panoptic bench` dispatcher, on tiny settings."""
import json
import types

import pytest

from panoptic_ros.bench import head
from panoptic_ros.cli import bench as bench_cli
from panoptic_ros.cli.main import main

TINY = ["--sizes", "32x24", "64x48", "--detections", "0", "3", "--classes", "6", "--things", "3", "--repeats", "2",
        "--warmup", "0", "--threads", "1", "--no-pipeline"]


def test_bench_head_writes_json_and_plot(tmp_path, capsys):
    assert main(["bench", "head", *TINY, "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "head.json").read_text())
    assert (tmp_path / "head.png").stat().st_size > 1000
    rows = data["rows"]
    assert len(rows) == 2 * 2 * 3
    assert {(r["width"], r["height"]) for r in rows} == {(32, 24), (64, 48)}
    assert {r["policy"] for r in rows} == {"highest_confidence", "smallest_first", "closest_center"}
    for r in rows:
        assert 0 < r["min_ms"] <= r["median_ms"] <= r["p90_ms"] and r["repeats"] == 2
        assert r["ms_per_megapixel"] == pytest.approx(r["median_ms"] / r["megapixels"])
        assert r["segments"] >= 0
    assert len(data["linearity"]["per_detection"]) == 2 * 3 and len(data["linearity"]["per_pixel"]) == 2 * 3
    assert all(p["pixel_ratio"] == pytest.approx(4.0) for p in data["linearity"]["per_pixel"])
    assert "pipeline" not in data
    assert "closest_center" in capsys.readouterr().out


def test_linearity_of_exactly_linear_timings():
    rows = [{"width": w, "height": h, "detections": n, "policy": "p", "median_ms": 2.0 * w * h / 1000 + 0.5 * n}
            for (w, h) in ((100, 10), (200, 20)) for n in (10, 50, 100)]
    lin = head.linearity(rows)
    assert [round(d["ms_per_detection"], 6) for d in lin["per_detection"]] == [0.5, 0.5]
    assert all(d["r2"] == pytest.approx(1.0) for d in lin["per_detection"])
    assert [round(d["time_ratio"], 3) for d in lin["per_pixel"]] == [round((8 + 5) / (2 + 5), 3),
                                                                   round((8 + 25) / (2 + 25), 3),
                                                                   round((8 + 50) / (2 + 50), 3)]


def test_make_scene_shapes():
    import torch

    logits, boxes, scores, labels, offsets, thing_mask = head.make_scene(40, 30, 7, 3, 5, torch.Generator(), "cpu")
    assert logits.shape == (7, 30, 40) and boxes.shape == (5, 4) and offsets.shape == (2, 30, 40)
    assert thing_mask.tolist() == [True] * 3 + [False] * 4 and bool(thing_mask[labels].all())
    assert bool((boxes[:, 2:] > boxes[:, :2]).all()) and bool(((scores >= 0.3) & (scores <= 1.0)).all())


@pytest.mark.parametrize("argv, message", [
    (["bench", "head", "--sizes", "640"], "WIDTHxHEIGHT"),
    (["bench", "head", "--policies", "largest"], "invalid choice"),
    (["bench", "nothing"], "invalid choice"),
])
def test_bad_bench_arguments_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_bad_values_are_one_line_errors(tmp_path, capsys):
    assert main(["bench", "head", *TINY, "--things", "9", "--out", str(tmp_path)]) == 2
    assert "--things" in capsys.readouterr().err


def test_missing_benchmark_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setattr(bench_cli, "load_benchmark", lambda name: None)
    assert main(["bench", "ros"]) == 2
    assert "benchmark 'ros' is not available" in capsys.readouterr().err


def test_bench_all_runs_what_is_present_and_reports_failures(monkeypatch, tmp_path):
    calls = []

    def fake(name, fail=False):
        def run(args):
            calls.append((name, args.out, args.level))
            if fail:
                raise RuntimeError("boom")
            path = tmp_path / f"{name}.json"
            path.write_text("{}")
            return {"json": str(path)}
        return types.SimpleNamespace(__doc__=name, run=run,
                                     add_arguments=lambda p: p.add_argument("--level", type=int, default=3))

    modules = {"head": fake("head"), "model": None, "ros": fake("ros", fail=True)}
    monkeypatch.setattr(bench_cli, "load_benchmark", modules.get)
    assert main(["bench", "all", "--out", str(tmp_path)]) == 1          # ros failed
    assert calls == [("head", str(tmp_path), 3), ("ros", str(tmp_path), 3)]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["head"] == {"json": str(tmp_path / "head.json")}
    assert summary["model"] == {"skipped": "not available"} and "boom" in summary["ros"]["error"]
    modules["ros"] = None
    calls.clear()
    assert main(["bench", "all", "--out", str(tmp_path)]) == 0
    assert calls == [("head", str(tmp_path), 3)]


def test_bench_head_reports_the_post_processing_share_per_fuse_resolution(tmp_path):
    """Synthetic COCO-scale network outputs through the pipeline's post-processing, per fuse resolution, against
    the shipped model's end-to-end time at the same size."""
    args = ["--sizes", "160x120", "--detections", "2", "--classes", "20", "--things", "8", "--repeats", "2",
            "--warmup", "1", "--threads", "1", "--policies", "closest_center", "--out", str(tmp_path)]
    assert main(["bench", "head", *args]) == 0
    share = json.loads((tmp_path / "head.json").read_text())["pipeline"]
    assert share["target_share"] == 0.25 and share["model_runtime"]
    rows = share["rows"]
    assert [r["fuse_resolution"] for r in rows] == ["image", "input", "output"]
    for r in rows:
        assert r["classes"] == 20 and r["detections"] > 0 and r["size"] == "160x120"
        assert r["share"] == pytest.approx(r["postprocess_median_ms"] / r["model_end_to_end_ms"])
        assert set(r["stages_ms"]) == {"detections", "mapping", "merge"}
