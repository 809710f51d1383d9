"""`panoptic bench runtimes` on the shipped model with few repeats: every installed runtime is timed against torch
eager fp32 and its output difference is reported; fp32 runtimes agree to 1e-3."""
import json

from panoptic_ros.cli.main import main


def test_bench_runtimes_writes_every_variant(tmp_path, monkeypatch):
    from panoptic_ros.export import quantize

    monkeypatch.setattr(quantize, "CALIBRATION_IMAGES", 2)  # int8 timing needs a quantized file, not a good one
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert main(["bench", "runtimes", "--networks", "shipped", "--repeats", "1", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "runtimes.json").read_text())
    assert (tmp_path / "runtimes.png").stat().st_size > 1000
    data = result["networks"]["shipped"]
    assert data["input"] == [256, 352]
    rows = {r["variant"]: r for r in data["rows"]}
    before = rows["torch eager fp32 (before)"]
    assert before["speedup"] == 1.0 and before["max_abs_diff"] == 0
    assert set(rows) | set(data["skipped"]) == {"torch eager fp32 (before)", "torch fp32", "torch bf16",
                                                 "onnxruntime fp32", "onnxruntime int8", "openvino fp32",
                                                 "openvino bf16", "openvino fp16", "openvino int8"}
    assert {"onnxruntime int8", "openvino int8"} <= set(rows)  # int8 runs on every x86 CPU
    assert result["cpu"]["model"] and set(result["cpu"]["flags"]) >= {"avx2", "avx512f", "avx512_vnni",
                                                                       "avx512_bf16", "amx_tile"}
    for name, r in rows.items():
        assert r["median_ms"] > 0 and r["min_ms"] <= r["median_ms"]
        if name.endswith("fp32") or name.endswith("(before)"):
            assert r["max_abs_diff"] < 1e-3, name
