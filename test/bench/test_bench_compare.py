"""`panoptic bench compare`: ours (research and fast layouts) vs torchvision's two-stage and FCOS detectors in one
run; at a tiny size it must run end to end, force the detections and write its JSON (ratios, targets) + plot."""
import json

from panoptic_ros.cli.main import main


def test_bench_compare_runs_end_to_end_at_a_tiny_size(tmp_path):
    out = tmp_path / "bench"
    assert main(["bench", "compare", "--size", "160x128", "--repeats", "1", "--warmup", "0",
                 "--breakdown-repeats", "1", "--out", str(out)]) == 0
    result = json.loads((out / "compare.json").read_text())
    assert (out / "compare.png").stat().st_size > 1000
    assert result["size"] == [160, 128] and result["forced_detections"] == 100
    assert set(result["systems"]) == {"research", "fast", "two_stage", "fcos"}
    for name, system in result["systems"].items():
        assert system["detections"] == 100, name
        assert system["seconds_median"] > 0 and len(system["seconds"]) == 1
    gmac = {name: system["gmac"] for name, system in result["systems"].items()}
    assert gmac["fast"] < gmac["research"] < gmac["two_stage"] and gmac["fcos"] > 0
    assert result["systems"]["fast"]["output_stride"] == 8 and result["systems"]["research"]["output_stride"] == 4
    assert {"two_stage_over_fast", "fast_over_fcos", "research_over_fast"} <= set(result["ratios"])
    for key in ("two_stage_over_fast", "fast_over_fcos"):
        assert result["targets"][key]["value"] == result["ratios"][key]
        assert result["targets"][key]["value_min"] == result["ratios_min"][key]
        assert isinstance(result["targets"][key]["met"], bool) and isinstance(result["targets"][key]["met_min"], bool)
    assert set(result["parts_seconds"]) == {"research", "fast", "fcos"}
    assert {"encoder", "fpn", "detection_head"} <= set(result["parts_seconds"]["fcos"])
    assert "network" in result["stages_seconds"]["fast"]
