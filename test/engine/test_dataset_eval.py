"""The evaluation loop's metric accumulation, checked with an oracle: predicting the ground truth must give
PQ = mIoU = box AP = 1, and removing one instance must lower PQ and AP."""
import numpy as np
import pytest
import torch

from panoptic_ros.data import CocoPanopticDataset, make_synthetic_dataset
from panoptic_ros.engine.dataset_eval import DatasetMetrics, format_summary, gt_semantic
from panoptic_ros.evaluation.prediction import ImagePrediction
from panoptic_ros.panoptic import PanopticResult

POLICIES = ("highest_confidence", "closest_center")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = make_synthetic_dataset(tmp_path_factory.mktemp("oracle") / "d", 3, seed=5, width=160, height=120,
                                  overlap="heavy")
    return CocoPanopticDataset(root)


def oracle(gt_pan, segments, cats, drop=0):
    """Prediction = ground truth (crowd pixels unknown), without the first `drop` thing instances."""
    pan = gt_pan.copy()
    segs, boxes, labels = [], [], []
    dropped = 0
    for s in segments:
        ch = cats.index(s["category_id"])
        thing = cats.category(ch).isthing
        if s.get("iscrowd", 0) or (thing and dropped < drop):
            dropped += bool(thing and not s.get("iscrowd", 0))
            pan[pan == s["id"]] = 0
            continue
        segs.append({"id": s["id"], "category_id": ch, "isthing": thing, "score": 1.0, "bbox": s["bbox"],
                     "area": s["area"]})
        if thing:
            x, y, w, h = s["bbox"]
            boxes.append([x, y, x + w, y + h])
            labels.append(ch)
    result = PanopticResult(torch.from_numpy(pan.astype(np.int32)), segs)
    sem = gt_semantic(gt_pan, segments, cats)
    sem[sem == 255] = 0
    return ImagePrediction(results={p: result for p in POLICIES}, semantic=torch.from_numpy(sem),
                           boxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                           scores=torch.ones(len(boxes)), labels=torch.tensor(labels, dtype=torch.int64),
                           common_s=0.02, fuse_s={p: 0.001 * (i + 1) for i, p in enumerate(POLICIES)},
                           stages_s={"network": 0.015})


def _evaluate(dataset, drop):
    metrics = DatasetMetrics(dataset.categories, POLICIES)
    for i, sample in enumerate(dataset.samples):
        gt_pan, segs = dataset.load_panoptic(i)
        metrics.add(sample.image_id, gt_pan, segs, oracle(gt_pan, segs, dataset.categories, drop))
    return metrics.summarize()


def test_ground_truth_as_prediction_scores_perfectly(dataset):
    results = _evaluate(dataset, drop=0)
    for p in POLICIES:
        m = results[p]
        assert m["pq"]["All"]["pq"] == pytest.approx(1.0) and m["pq"]["Things"]["n"] > 0
        assert m["miou"] == pytest.approx(1.0)
        assert m["box_ap"]["AP"] == pytest.approx(1.0)
        assert m["num_images"] == 3
    # latency = common part + this policy's fuse
    assert results["highest_confidence"]["latency_ms"]["p50"] == pytest.approx(21.0)
    assert results["closest_center"]["latency_ms"]["p50"] == pytest.approx(22.0)
    assert results["closest_center"]["fps"] == pytest.approx(1000 / 22.0)
    assert "fuse_closest_center" in results["closest_center"]["stages_ms"]
    assert "closest_center" in format_summary(results)


def test_missing_instances_lower_pq_and_ap(dataset):
    m = _evaluate(dataset, drop=1)["closest_center"]
    assert m["pq"]["Things"]["pq"] < 1.0 and m["pq"]["Stuff"]["pq"] == pytest.approx(1.0)
    assert m["box_ap"]["AP"] < 1.0
    fn = sum(c["fn"] for c in m["pq"]["per_class"].values())
    assert fn == 3  # one dropped instance per image


def test_gt_semantic_ignores_void_and_crowd():
    from panoptic_ros.data import CategoryMap
    cats = CategoryMap.from_coco([{"id": 1, "name": "a", "isthing": 1}, {"id": 7, "name": "b", "isthing": 0}])
    pan = np.array([[0, 5, 9], [9, 5, 3]])
    segs = [{"id": 5, "category_id": 1}, {"id": 9, "category_id": 7}, {"id": 3, "category_id": 1, "iscrowd": 1}]
    assert gt_semantic(pan, segs, cats).tolist() == [[255, 0, 1], [1, 0, 255]]
