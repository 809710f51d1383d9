"""`panoptic bench contention` on the shipped model with 1 frame: the JSON names the CPU, both phases are timed,
and the CPU-burning processes it started are gone afterwards (no timing is asserted)."""
import json

from panoptic_ros.bench import contention
from panoptic_ros.cli.bench import benchmark_parser


def test_contention_times_both_phases_and_stops_its_load(tmp_path, monkeypatch):
    started = []
    real = contention.burners
    monkeypatch.setattr(contention, "burners", lambda n: started.extend(real(n)) or started)
    args = benchmark_parser("contention", contention).parse_args(
        ["--runtime", "torch", "--precision", "fp32", "--frames", "1", "--warmup", "0", "--burners", "1",
         "--num-threads", "1", "--out", str(tmp_path)])
    result = contention.run(args)
    data = json.loads((tmp_path / "contention.json").read_text())
    assert data["ratio"] == result["ratio"] > 0 and len(data["quiet_ms"]) == len(data["loaded_ms"]) == 1
    assert data["cpu"]["model"] and data["num_threads"] == 1 and data["burners"] == 1
    assert len(started) == 1 and all(p.poll() is not None for p in started)
    assert (tmp_path / "contention.png").stat().st_size > 1000
