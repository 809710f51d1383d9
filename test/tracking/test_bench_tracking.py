"""`panoptic bench tracking`: cost next to the pipeline and quality on a held-out video, written as JSON."""
import json

from panoptic_ros.cli.main import main


def test_bench_tracking_writes_cost_and_quality(tmp_path):
    assert main(["bench", "tracking", "--runtime", "torch", "--size", "160x120", "--objects", "6", "--frames", "2",
                 "--warmup", "1", "--quality-frames", "4", "--drop", "2", "--out", str(tmp_path)]) == 0
    m = json.loads((tmp_path / "tracking.json").read_text())
    assert m["size"] == "160x120" and m["runtime"] == "torch" and m["objects_in_view_mean"] >= 6
    assert m["pipeline_ms"]["p50"] > 0 and m["tracker_ms_ground_truth"]["p50"] > 0
    assert m["share_ground_truth"] == m["tracker_ms_ground_truth"]["p50"] / m["pipeline_ms"]["p50"]
    q = m["quality"]
    assert q["frames"] == 4 and 0 <= q["stq"] <= 1 and 0 <= q["stq_without_tracking"] <= 1
    assert q["id_keep"]["pairs"] >= 0 and "id_switches_per_100" in q
    assert m["quality_dropped_frames"]["frames"] == 2   # frames 0 and 2
