"""`panoptic bench tracking`: cost next to the pipeline, quality on a held-out video and the trackers side by side
on the same network outputs, written as JSON + plot."""
import json

from panoptic_ros.cli.main import main


def test_bench_tracking_writes_cost_and_quality(tmp_path):
    assert main(["bench", "tracking", "--runtime", "torch", "--size", "160x120", "--objects", "6", "--frames", "4",
                 "--warmup", "1", "--quality-frames", "4", "--drop", "2", "--compare-frames", "8",
                 "--compare-seeds", "5", "--out", str(tmp_path)]) == 0
    m = json.loads((tmp_path / "tracking.json").read_text())
    assert m["size"] == "160x120" and m["runtime"] == "torch" and m["objects_in_view_mean"] >= 6
    assert m["pipeline_ms"]["p50"] > 0 and m["tracker_ms_ground_truth"]["p50"] > 0
    assert m["share_ground_truth"] == m["tracker_ms_ground_truth"]["p50"] / m["pipeline_ms"]["p50"]
    # on perfect segments every object keeps its id from frame to frame (a tracker renumbering every frame fails)
    keep = m["ground_truth_id_keep"]
    assert keep["pairs"] >= 15 and keep["fraction"] == 1.0, keep
    q = m["quality"]
    assert q["frames"] == 4 and 0 <= q["stq"] <= 1 and 0 <= q["stq_without_tracking"] <= 1
    assert q["id_keep"]["pairs"] >= 0 and "id_switches_per_100" in q
    assert m["quality_dropped_frames"]["frames"] == 2   # frames 0 and 2
    c = m["comparison"]
    rows = {r["tracker"]: r for r in c["rows"]}
    assert c["frames"] == 8 and {"panoptic_ros (re-id)", "panoptic_ros (no re-id)", "no tracking"} <= set(rows)
    for r in rows.values():
        assert 0 <= r["stq"] <= 1 and 0 <= r["idf1"] <= 1 and 0 <= r["hota"] <= 1 and r["ms_per_frame"] >= 0
    assert (tmp_path / "tracking.png").stat().st_size > 0 and "| tracker | STQ |" in c["table"]
