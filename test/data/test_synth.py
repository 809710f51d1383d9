"""Synthetic scene generator: determinism, valid COCO panoptic output, overlaps that separate the merge policies."""
import hashlib
import json

import numpy as np
import pytest
import torch

from panoptic_ros.data import CocoPanopticDataset, read_panoptic_png
from panoptic_ros.data.synth import CATEGORIES, make_synthetic_dataset, render_scene
from panoptic_ros.evaluation import PQEvaluator, result_to_coco
from panoptic_ros.panoptic import fuse  # the package's own module: a broken import fails, never skips


def digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def test_deterministic_per_seed(tmp_path):
    a = make_synthetic_dataset(tmp_path / "a", 3, seed=7, width=96, height=64)
    b = make_synthetic_dataset(tmp_path / "b", 3, seed=7, width=96, height=64)
    c = make_synthetic_dataset(tmp_path / "c", 3, seed=8, width=96, height=64)
    assert digest(a) == digest(b) != digest(c)
    # image i does not depend on how many images are generated
    d = make_synthetic_dataset(tmp_path / "d", 1, seed=7, width=96, height=64)
    assert (d / "panoptic" / "000001.png").read_bytes() == (a / "panoptic" / "000001.png").read_bytes()


def test_output_is_valid_coco_panoptic(synthetic_dataset):
    data = json.loads((synthetic_dataset / "panoptic.json").read_text())
    assert data["categories"] == CATEGORIES.to_coco()
    assert {c["isthing"] for c in data["categories"]} == {0, 1}
    assert len(data["images"]) == len(data["annotations"]) == 6
    for img, ann in zip(data["images"], data["annotations"]):
        assert img["id"] == ann["image_id"] and (synthetic_dataset / "images" / img["file_name"]).is_file()
        ids = read_panoptic_png(synthetic_dataset / "panoptic" / ann["file_name"])
        assert ids.shape == (img["height"], img["width"]) == (120, 160)
        listed = {s["id"]: s for s in ann["segments_info"]}
        assert set(np.unique(ids)) - {0} == set(listed)
        for sid, s in listed.items():
            ys, xs = np.nonzero(ids == sid)
            assert s["area"] == len(ys)
            assert s["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            cat = CATEGORIES.category(CATEGORIES.index(s["category_id"]))
            assert s["iscrowd"] in (0, 1) and (cat.isthing or not s["iscrowd"])
            if cat.isthing:
                assert s["area"] >= 64


def test_crowd_segments_are_written_sometimes(tmp_path):
    root = make_synthetic_dataset(tmp_path / "ds", 30, seed=1, width=160, height=120, overlap="heavy")
    segs = [s for a in json.loads((root / "panoptic.json").read_text())["annotations"] for s in a["segments_info"]]
    crowd = sum(s["iscrowd"] for s in segs)
    things = sum(s["category_id"] <= 4 for s in segs)
    assert 0 < crowd < 0.2 * things


def test_stuff_regions_are_large_at_640x480():
    rng_areas = []
    for i in range(6):
        _, _, segs = render_scene(np.random.default_rng([0, i]), 640, 480)
        rng_areas += [s["area"] for s in segs if s["category_id"] >= 5]
    assert np.mean(np.array(rng_areas) > 4096) >= 0.9


def same_class_overlap(root):
    """Fraction of (non-crowd) thing pixels inside at least one other same-class instance's box."""
    ds = CocoPanopticDataset(root)
    inside, total = 0, 0
    for i in range(len(ds)):
        _, t = ds[i]
        inst, boxes, labels = t["instance_map"], t["boxes"], t["labels"]
        ys, xs = torch.nonzero(inst >= 0, as_tuple=True)
        own = inst[ys, xs]
        cx, cy = xs[:, None] + 0.5, ys[:, None] + 0.5
        hit = (cx >= boxes[:, 0]) & (cx < boxes[:, 2]) & (cy >= boxes[:, 1]) & (cy < boxes[:, 3])
        hit &= labels[None, :] == labels[own][:, None]
        hit[torch.arange(len(own)), own] = False
        inside += int(hit.any(1).sum())
        total += len(own)
    return inside / total


def test_many_same_class_overlaps_more_in_heavy_mode(tmp_path):
    normal = same_class_overlap(make_synthetic_dataset(tmp_path / "n", 8, seed=2, width=320, height=240))
    heavy = same_class_overlap(make_synthetic_dataset(tmp_path / "h", 8, seed=2, width=320, height=240,
                                                      overlap="heavy"))
    assert normal > 0.1
    assert heavy > normal + 0.1


def test_merge_policies_differ_measurably(synthetic_dataset):
    """With oracle semantics, boxes and offsets but random scores, the policies give different PQ."""

    ds = CocoPanopticDataset(synthetic_dataset)
    cats = ds.categories
    evs = {p: PQEvaluator(cats) for p in ("highest_confidence", "smallest_first", "closest_center")}
    gen = torch.Generator().manual_seed(0)
    for i in range(len(ds)):
        _, t = ds[i]
        sem = t["semantic"].clone()
        logits = torch.nn.functional.one_hot(sem.clamp(max=len(cats) - 1), len(cats)).permute(2, 0, 1).float()
        logits[:, sem == 255] = 0.0
        scores = torch.rand(len(t["labels"]), generator=gen) * 0.5 + 0.5
        gt_pan, gt_segs = ds.load_panoptic(i)
        for p, ev in evs.items():
            r = fuse(logits, t["boxes"], scores, t["labels"], thing_mask=cats.thing_mask, policy=p,
                     center_offsets=t["center_offsets"], stuff_area_threshold=0)
            ev.add(gt_pan, gt_segs, *result_to_coco(r, cats), image_id=i)
    pq = {p: ev.summarize()["Things"]["pq"] for p, ev in evs.items()}
    assert pq["closest_center"] > max(pq["highest_confidence"], pq["smallest_first"]) + 0.05, pq
    assert abs(pq["highest_confidence"] - pq["smallest_first"]) > 0.01, pq


@pytest.mark.parametrize("kwargs, match", [({"num": 0}, "at least 1"), ({"overlap": "x"}, "overlap must be"),
                                           ({"width": 8}, "at least 32x32")])
def test_bad_arguments(tmp_path, kwargs, match):
    args = {"num": 1, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_synthetic_dataset(tmp_path, **args)


def test_single_image_scenes_are_unchanged():
    """The shipped model's data is regenerated from seeds: the scenes of a seed must never change (id maps and
    segments of seeds 1 and 3, as before the sequence generator was added)."""
    import hashlib
    h = hashlib.sha256()
    for seed, overlap in ((1, "normal"), (3, "heavy")):
        for i in range(2):
            _, ids, segs = render_scene(np.random.default_rng([seed, i]), 640, 480, overlap)
            h.update(ids.tobytes())
            h.update(json.dumps(segs, sort_keys=True).encode())
    assert h.hexdigest() == "4911c3e9385efe669ec773a8b0edab10d9e98c3f4f652874d16840c1e432bf5e"


def test_sequence_ground_truth_is_consistent_and_moving(tmp_path):
    from panoptic_ros.data.synth import make_synthetic_sequence, render_sequence

    n = 24
    root = make_synthetic_sequence(tmp_path / "seq", n, seed=5, width=192, height=144, pan=6, objects=12)
    data = json.loads((root / "panoptic.json").read_text())
    assert data["info"]["sequence"] and data["info"]["frames"] == n
    assert [img["frame_index"] for img in data["images"]] == list(range(n))
    assert {img["video_id"] for img in data["images"]} == {"synth-5"}
    assert [img["stamp"] for img in data["images"]] == pytest.approx([i / 10 for i in range(n)])
    frames = list(render_sequence(5, n, 192, 144, pan=6, objects=12))
    assert all(np.array_equal(read_panoptic_png(root / "panoptic" / a["file_name"]), f.id_map)
               for a, f in zip(data["annotations"], frames))          # deterministic, files = rendering
    spans, boxes = {}, {}
    for f in frames:
        assert {s["id"] for s in f.segments} == set(np.unique(f.id_map).tolist()) - {0}
        for s in f.segments:
            assert s["track_id"] == s["id"] and s["iscrowd"] == 0
            if s["id"] % 1000:
                spans.setdefault(s["id"], []).append(f.index)
                boxes.setdefault(f.index, []).append(s)
    assert any(v[0] > 0 for v in spans.values()), "an object enters"
    assert any(v[-1] < n - 1 for v in spans.values()), "an object leaves"
    # the camera pans: the stuff at the right edge of frame 0 has moved left by the end
    first, last = frames[0].id_map, frames[-1].id_map
    assert not np.array_equal(first // 1000, last // 1000)

    def overlap(a, b):
        return a["bbox"][0] < b["bbox"][0] + b["bbox"][2] and b["bbox"][0] < a["bbox"][0] + a["bbox"][2] and \
            a["bbox"][1] < b["bbox"][1] + b["bbox"][3] and b["bbox"][1] < a["bbox"][1] + a["bbox"][3]
    meets = [(a["id"], b["id"]) for segs in boxes.values() for a in segs for b in segs
             if a["id"] < b["id"] and a["category_id"] == b["category_id"] and overlap(a, b)]
    assert meets, "same-class objects cross / occlude each other"
    with pytest.raises(ValueError, match="--frames must be at least 1"):
        make_synthetic_sequence(tmp_path / "bad", 0)
    assert not (tmp_path / "bad").exists()
