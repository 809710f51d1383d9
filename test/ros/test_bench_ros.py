"""`panoptic bench ros`: per-frame ROS-side overhead vs model time, JSON + plot."""
import json

import pytest

pytest.importorskip("rclpy")
from panoptic_ros.cli.bench import benchmark_parser, load_benchmark  # noqa: E402
from panoptic_ros.ros.bench.overhead import IN_STAGES, out_stages  # noqa: E402

pytestmark = pytest.mark.ros


def test_bench_ros_writes_json_and_plot(tiny_checkpoint, tmp_path):
    bench = load_benchmark("ros")
    args = benchmark_parser("ros", bench).parse_args(
        ["--model", str(tiny_checkpoint), "--sizes", "64x48", "96x64", "--repeats", "2", "--runtime", "torch",
         "--precision", "fp32", "--out", str(tmp_path)])
    result = bench.run(args)
    saved = json.loads((tmp_path / "ros.json").read_text())
    assert (tmp_path / "ros.png").stat().st_size > 0
    assert (saved["runtime"], saved["precision"]) == ("torch", "fp32")
    assert [(r["width"], r["height"]) for r in saved["rows"]] == [(64, 48), (96, 64)]
    OUT_STAGES = out_stages()
    assert OUT_STAGES == ("panoptic", "semantic", "instances", "overlay", "semantic_color", "panoptic_color",
                          "serialize")
    for row in saved["rows"]:
        assert set(row["stages_ms"]) == set(IN_STAGES) | set(OUT_STAGES)
        assert all(v > 0 for v in row["stages_ms"].values())
        assert row["model_ms"] > 0
        assert row["overhead_ms"] == pytest.approx(row["stages_ms"]["decode_raw"]
                                                   + sum(row["stages_ms"][k] for k in OUT_STAGES))
        assert row["overhead_fraction"] == pytest.approx(row["overhead_ms"] / row["model_ms"])
        assert row["overhead_fraction_no_overlay"] < row["overhead_fraction"]
    assert result["json"] == str(tmp_path / "ros.json")


def test_bench_ros_rejects_bad_sizes():
    with pytest.raises(SystemExit):
        benchmark_parser("ros", load_benchmark("ros")).parse_args(["--sizes", "640by480"])
