"""`panoptic bench cameras`: registration and the figures it reports (the run itself starts real node processes
for minutes and is run by hand: docs/robot.md has its numbers)."""
import math

import pytest

from panoptic_ros.cli.bench import BENCHMARKS, NOT_IN_ALL, benchmark_parser, load_benchmark
from panoptic_ros.ros.bench.multi_camera import MultiCameraOptions, format_table, summarize


def test_registered_but_not_in_all():
    assert "cameras" in BENCHMARKS and "cameras" in NOT_IN_ALL
    args = benchmark_parser("cameras", load_benchmark("cameras")).parse_args(["--cameras", "1", "4", "--size",
                                                                              "320x240"])
    assert args.cameras == [1, 4] and args.size == (320, 240) and args.out == "runs/bench"


def test_summarize_rates_latency_and_starvation():
    answers = {"cam0": [(0.0, 0.1), (1.0, 0.3)] * 5, "cam1": [(0.0, 0.2)] * 5, "cam2": []}
    s = summarize(answers, seconds=5.0)
    assert s["camera_fps"] == {"cam0": 2.0, "cam1": 1.0, "cam2": 0.0}
    assert s["total_fps"] == 3.0 and s["min_camera_fps"] == 0.0 and s["max_camera_fps"] == 2.0
    assert s["starved"] == ["cam2"] and s["fairness"] == 0.0
    assert math.isclose(s["latency_p50_ms"], 200.0) and math.isclose(s["latency_p90_ms"], 300.0)
    row = {"cameras": 3, "mode": "batched", "batch_size_mean": {"bench_node": "2.50"}, **s}
    table = format_table({"rows": [row], "speedup": {"3": 1.25}})
    assert "batched" in table and "2.50" in table and "3 cam 1.25x" in table


def test_bad_arguments_are_refused():
    from panoptic_ros.ros.bench import multi_camera

    with pytest.raises(ValueError, match="--rate"):
        multi_camera.run(MultiCameraOptions(out="/tmp/x", rate=0.0, seconds=1.0, warmup=0.0, cameras=[1]))
