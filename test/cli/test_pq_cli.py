"""`panoptic pq`: the evaluator alone; metrics.json layout and one-line errors with a non-zero exit."""
import json
import shutil

import numpy as np
import pytest

from panoptic_ros.cli.main import main
from panoptic_ros.data import make_synthetic_dataset, read_panoptic_png, write_panoptic_png


@pytest.fixture(scope="module")
def gt(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("pq") / "gt", 3, seed=9, width=96, height=72)


def args(gt, pred, out=None):
    a = ["pq", "--gt-json", str(gt / "panoptic.json"), "--gt-folder", str(gt / "panoptic"),
         "--pred-json", str(pred / "panoptic.json"), "--pred-folder", str(pred / "panoptic")]
    return a + (["--out", str(out)] if out else [])


def test_perfect_prediction_and_metrics_layout(gt, tmp_path, capsys):
    out = tmp_path / "res" / "metrics.json"
    assert main(args(gt, gt, out)) == 0
    assert "All" in capsys.readouterr().out
    m = json.loads(out.read_text())
    assert list(m) == ["All", "Things", "Stuff", "per_class"]
    assert m["All"]["pq"] == 1.0 and set(m["All"]) == {"pq", "sq", "rq", "n"}
    cats = json.loads((gt / "panoptic.json").read_text())["categories"]
    assert set(m["per_class"]) == {str(c["id"]) for c in cats}
    assert set(next(iter(m["per_class"].values()))) == {"pq", "sq", "rq", "tp", "fp", "fn"}


def test_imperfect_prediction_scores_below_one(gt, tmp_path):
    pred = tmp_path / "pred"
    shutil.copytree(gt, pred)
    for png in (pred / "panoptic").iterdir():
        m = read_panoptic_png(png)
        m[:, :30] = 0  # predict void on the left part
        write_panoptic_png(png, m)
    data = json.loads((pred / "panoptic.json").read_text())
    for ann in data["annotations"]:
        present = set(np.unique(read_panoptic_png(pred / "panoptic" / ann["file_name"])).tolist())
        ann["segments_info"] = [s for s in ann["segments_info"] if s["id"] in present]
    (pred / "panoptic.json").write_text(json.dumps(data))
    out = tmp_path / "m.json"
    assert main(args(gt, pred, out)) == 0
    assert 0.0 < json.loads(out.read_text())["All"]["pq"] < 1.0


def _broken(gt, tmp_path, kind):
    pred = tmp_path / "pred"
    shutil.copytree(gt, pred)
    data = json.loads((pred / "panoptic.json").read_text())
    if kind == "missing image":
        data["annotations"].pop()
    elif kind == "size":
        write_panoptic_png(pred / "panoptic" / "000001.png", np.zeros((10, 10), np.int32))
        data["annotations"][0]["segments_info"] = []
    elif kind == "segment not in json":
        data["annotations"][1]["segments_info"].pop()
    elif kind == "unknown category":
        data["annotations"][0]["segments_info"][0]["category_id"] = 999
    elif kind == "missing png":
        (pred / "panoptic" / "000002.png").unlink()
    (pred / "panoptic.json").write_text(json.dumps(data))
    return pred


@pytest.mark.parametrize("kind, message", [
    ("missing image", "no prediction for 1 of 3 images"),
    ("size", "is 96x72 but prediction"),
    ("segment not in json", "but not in the prediction JSON"),
    ("unknown category", "unknown category_id 999"),
    ("missing png", "panoptic PNG not found"),
])
def test_bad_predictions_exit_2_with_one_line(gt, tmp_path, capsys, kind, message):
    pred = _broken(gt, tmp_path, kind)
    out = tmp_path / "m.json"
    assert main(args(gt, pred, out)) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("panoptic pq")]
    assert len(err) == 1 and message in err[0]
    assert not out.exists()


def test_missing_json_is_named(gt, tmp_path, capsys):
    assert main(["pq", "--gt-json", str(gt / "panoptic.json"), "--pred-json", str(tmp_path / "none.json")]) == 2
    assert "none.json" in capsys.readouterr().err


def test_categories_from_panopticapis_file(gt, tmp_path, capsys):
    """`--categories panoptic_coco_categories.json` (panopticapi's bare list) scores a GT JSON without categories."""
    data = json.loads((gt / "panoptic.json").read_text())
    cats = data.pop("categories")
    (tmp_path / "gt.json").write_text(json.dumps(data))
    (tmp_path / "panoptic_coco_categories.json").write_text(json.dumps(cats))
    a = ["pq", "--gt-json", str(tmp_path / "gt.json"), "--gt-folder", str(gt / "panoptic"),
         "--pred-json", str(gt / "panoptic.json"), "--pred-folder", str(gt / "panoptic"), "--no-progress"]
    assert main(a) == 2 and "needs a 'categories' list" in capsys.readouterr().err
    for engine in ("reference", "auto"):
        out = tmp_path / f"{engine}.json"
        assert main(a + ["--categories", str(tmp_path / "panoptic_coco_categories.json"), "--engine", engine,
                         "--out", str(out)]) == 0
        m = json.loads(out.read_text())
        assert m["All"]["pq"] == 1.0 and set(m["per_class"]) == {str(c["id"]) for c in cats}
    (tmp_path / "empty.json").write_text("{}")
    assert main(a + ["--categories", str(tmp_path / "empty.json")]) == 2
    assert "no 'categories' list" in capsys.readouterr().err
