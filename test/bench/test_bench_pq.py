"""`panoptic bench pq` on 3 small generated images: both engines timed on the same files, same PQ, the JSON names
the CPU (no timing is asserted)."""
import json

import pytest

from panoptic_ros.bench import pq as bench_pq
from panoptic_ros.cli.bench import BENCHMARKS, benchmark_parser
from panoptic_ros.evaluation import pq_hotcoco


@pytest.mark.skipif(not pq_hotcoco.available(), reason="hotcoco not installed")
def test_bench_pq_times_both_engines_on_the_same_files(tmp_path):
    assert "pq" in BENCHMARKS
    args = benchmark_parser("pq", bench_pq).parse_args(["--images", "3", "--rounds", "1", "--out", str(tmp_path)])
    result = bench_pq.run(args)
    data = json.loads((tmp_path / "pq.json").read_text())
    assert set(data["seconds"]) == {"reference", "hotcoco"} and data["speedup"] == result["speedup"] > 0
    assert data["max_abs_difference"] <= 1e-9 and 0 < data["pq"]["hotcoco"]["All"]["pq"] < 1
    assert data["cpu"]["model"] and data["images"] == 3
