"""`panoptic bench soak`: the RSS summary (reference after warm-up, growth, leak slope) and its registration.
The full run drives the installed node (minutes); it is run by hand (docs/hardening_bag.md), not here."""
import os

import pytest

from panoptic_ros.cli.bench import BENCHMARKS, NOT_IN_ALL, benchmark_parser, load_benchmark
from panoptic_ros.ros.bench.soak import rss_mb, summarize


def test_summary_separates_warm_up_from_growth():
    # 400 MB until the warm-up ends at frame 100, then a leak of 2 MB per 100 frames
    samples = [(i, i / 30, 400.0 + (0 if i < 100 else 50 + 0.02 * (i - 100))) for i in range(0, 1101, 50)]
    s = summarize(samples, warmup=100)
    assert s["before_first_frame"] == 400.0 and s["after_warmup"] == 450.0
    assert s["end"] == pytest.approx(470.0) and s["growth_mb"] == pytest.approx(20.0)
    assert s["slope_mb_per_1000_frames"] == pytest.approx(20.0, abs=0.01)
    assert s["max"] == s["max_after_warmup"] == pytest.approx(470.0)
    flat = summarize([(i, 0.0, 500.0) for i in range(0, 1000, 100)], warmup=100)
    assert flat["growth_mb"] == 0.0 and flat["slope_mb_per_1000_frames"] == pytest.approx(0.0, abs=1e-9)
    assert summarize([], 10)["growth_mb"] is None


def test_rss_of_this_process_and_of_a_finished_one():
    assert 10 < rss_mb(os.getpid()) < 100_000
    assert rss_mb(2**22 + 12345) is None


def test_soak_is_registered_but_not_part_of_bench_all():
    assert "soak" in BENCHMARKS and "soak" in NOT_IN_ALL
    args = benchmark_parser("soak", load_benchmark("soak")).parse_args(["--frames", "600", "--rate", "30"])
    assert (args.frames, args.rate, args.out) == (600, 30.0, "runs/bench")
