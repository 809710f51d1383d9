"""`panoptic eval`: metrics.json with every key in valid ranges, predictions that `panoptic pq` scores the same,
--policy all, and one-line errors with exit code 2 for a missing checkpoint or dataset."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from panoptic_ros.cli.main import main
from panoptic_ros.config import load_config
from panoptic_ros.data import CocoPanopticDataset, make_synthetic_dataset, read_panoptic_png
from panoptic_ros.modeling import build_model, save_checkpoint
from panoptic_ros.panoptic.policies import PolicyUnavailable, box_policies
from panoptic_ros.pipeline import build_pipeline
from panoptic_ros.registry import MERGE_POLICIES

ROOT = Path(__file__).resolve().parents[2]
EVAL = ["eval", "--runtime", "torch"]  # the reference runtime: no export in these tests


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("eval")
    data = make_synthetic_dataset(tmp / "val", 3, seed=21, width=160, height=120)
    cfg = load_config(ROOT / "panoptic_ros" / "configs" / "smoke.yaml",
                      ["inference.device=cpu", "inference.score_threshold=0.05", "inference.stuff_area_threshold=64"])
    model = build_model(cfg, CocoPanopticDataset(data).categories)
    ckpt = save_checkpoint(tmp / "model.safetensors", model, cfg, model.categories)
    return data, ckpt


def _check_metrics(m, data, n):
    for group in ("All", "Things", "Stuff"):
        for k in ("pq", "sq", "rq"):
            assert 0.0 <= m["pq"][group][k] <= 1.0
        assert m["pq"][group]["n"] > 0
    assert set(m["pq"]["per_class"]) == {str(c.id) for c in CocoPanopticDataset(data).categories.categories}
    assert 0.0 <= m["miou"] <= 1.0 and 0.0 <= m["pixel_accuracy"] <= 1.0
    assert all(v is None or 0.0 <= v <= 1.0 for v in m["per_class_iou"].values())
    for k in ("AP", "AP50", "AP75"):
        assert 0.0 <= m["box_ap"][k] <= 1.0
    assert m["fps"] > 0 and math.isclose(m["fps"], 1000.0 / m["latency_ms"]["p50"], rel_tol=1e-9)
    lat = m["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] and lat["n"] == n
    assert m["num_images"] == n and m["data"] == str(data)
    assert {"preprocess", "network", "detections"} <= set(m["stages_ms"])


def test_eval_writes_metrics_and_coco_predictions(setup, tmp_path):
    data, ckpt = setup
    out = tmp_path / "ev"
    assert main([*EVAL, "--model", str(ckpt), "--data", str(data), "--policy", "smallest_first", "--out", str(out),
                 "--warmup", "1", "--no-progress"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["policy"] == "smallest_first"
    _check_metrics(m, data, 3)
    pred = json.loads((out / "predictions" / "panoptic.json").read_text())
    assert len(pred["annotations"]) == 3
    for ann in pred["annotations"]:
        ids = read_panoptic_png(out / "predictions" / "panoptic" / ann["file_name"])
        listed = {s["id"] for s in ann["segments_info"]}
        assert set(np.unique(ids).tolist()) - {0} == listed
        for s in ann["segments_info"]:
            assert int((ids == s["id"]).sum()) == s["area"]
    # the files score the same with the standalone evaluator
    from panoptic_ros.evaluation import pq_compute
    ref = pq_compute(data / "panoptic.json", out / "predictions" / "panoptic.json", data / "panoptic",
                     out / "predictions" / "panoptic", progress=False)
    for group in ("All", "Things", "Stuff"):
        for k in ("pq", "sq", "rq"):
            assert m["pq"][group][k] == pytest.approx(ref[group][k], abs=1e-9)


def test_eval_all_policies_writes_one_metrics_file_each_and_a_summary(setup, tmp_path, capsys):
    data, ckpt = setup
    out = tmp_path / "ev"
    assert main([*EVAL, "--model", str(ckpt), "--data", str(data), "--policy", "all", "--out", str(out),
                 "--warmup", "0", "--max-images", "2", "--no-predictions", "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    pipeline = build_pipeline(ckpt, runtime="torch")
    runnable = {p for p in MERGE_POLICIES.names() if _runs(pipeline, p)}
    assert set(box_policies()) <= runnable < set(MERGE_POLICIES.names())   # this model has no optional heads
    assert set(summary) == runnable
    for p in summary:
        m = json.loads((out / p / "metrics.json").read_text())
        assert m["policy"] == p
        _check_metrics(m, data, 2)
        assert summary[p]["PQ"] == pytest.approx(100 * m["pq"]["All"]["pq"])
    assert "closest_center" in capsys.readouterr().out


def _runs(pipeline, policy: str) -> bool:
    try:
        pipeline.check_policy(policy)
    except PolicyUnavailable:
        return False
    return True


@pytest.mark.parametrize("what", ["model", "data"])
def test_missing_checkpoint_or_dataset_exits_2_with_one_line(setup, tmp_path, capsys, what):
    data, ckpt = setup
    args = {"model": str(ckpt), "data": str(data)}
    args[what] = str(tmp_path / "missing")
    code = main([*EVAL, "--model", args["model"], "--data", args["data"], "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "missing" in err


def test_model_and_dataset_with_different_classes_exit_2(setup, tmp_path, capsys):
    from panoptic_ros.data import CategoryMap
    data, _ = setup
    cats = CocoPanopticDataset(data).categories
    fewer = CategoryMap(cats.categories[:-1])  # the model does not know the last class
    cfg = load_config(ROOT / "panoptic_ros" / "configs" / "smoke.yaml", ["inference.device=cpu"])
    ckpt = save_checkpoint(tmp_path / "other.safetensors", build_model(cfg, fewer), cfg, fewer)
    assert main([*EVAL, "--model", str(ckpt), "--data", str(data), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    last = cats.categories[-1]
    assert len(err.splitlines()) == 1 and f"only in the dataset: {last.name} ({last.id})" in err
