"""`panoptic pq` on an imperfect prediction gives the independent oracle's numbers (issue 19 item 9: the older
test only checked 0 < PQ < 1, which a wrong group mean or a swapped SQ / RQ also satisfies)."""
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from panoptic_ros.cli.main import main
from panoptic_ros.data import make_synthetic_dataset, read_panoptic_png, write_panoptic_png

_spec = importlib.util.spec_from_file_location(
    "pq_oracle", Path(__file__).resolve().parents[1] / "evaluation" / "pq_oracle.py")
pq_oracle = importlib.util.module_from_spec(_spec)   # a sibling helper; tests run with --import-mode=importlib
_spec.loader.exec_module(pq_oracle)


def _imperfect(gt: Path, pred: Path) -> None:
    """Void on the left 30 columns, and every segment of the first image grown 6 columns to the right."""
    shutil.copytree(gt, pred)
    data = json.loads((pred / "panoptic.json").read_text())
    for k, ann in enumerate(data["annotations"]):
        png = pred / "panoptic" / ann["file_name"]
        m = read_panoptic_png(png)
        if k == 0:
            m[:, 6:] = m[:, :-6].copy()
        m[:, :30] = 0
        write_panoptic_png(png, m)
        present = set(np.unique(m).tolist())
        ann["segments_info"] = [s for s in ann["segments_info"] if s["id"] in present]
    (pred / "panoptic.json").write_text(json.dumps(data))


def test_imperfect_prediction_matches_the_oracle(tmp_path):
    gt = make_synthetic_dataset(tmp_path / "gt", 3, seed=9, width=96, height=72)
    pred = tmp_path / "pred"
    _imperfect(gt, pred)
    out = tmp_path / "m.json"
    assert main(["pq", "--gt-json", str(gt / "panoptic.json"), "--gt-folder", str(gt / "panoptic"),
                 "--pred-json", str(pred / "panoptic.json"), "--pred-folder", str(pred / "panoptic"),
                 "--no-progress", "--out", str(out)]) == 0
    ours = json.loads(out.read_text())
    oracle = pq_oracle.oracle_pq_files(gt / "panoptic.json", pred / "panoptic.json", gt / "panoptic",
                                       pred / "panoptic", crowd_region="last_listed")
    assert 0.2 < oracle["All"]["pq"] < 0.95 and oracle["All"]["sq"] < 1.0 and oracle["All"]["rq"] < 1.0
    for group in ("All", "Things", "Stuff"):
        assert ours[group]["n"] == oracle[group]["n"], group
        for k in ("pq", "sq", "rq"):
            assert ours[group][k] == pytest.approx(oracle[group][k], abs=1e-9), (group, k)
    for cat, theirs in oracle["per_class"].items():
        mine = ours["per_class"][str(cat)]
        assert (mine["tp"], mine["fp"], mine["fn"]) == (theirs["tp"], theirs["fp"], theirs["fn"]), cat
        for k in ("pq", "sq", "rq"):
            assert mine[k] == pytest.approx(theirs[k] if theirs["included"] else 0.0, abs=1e-9), (cat, k)
