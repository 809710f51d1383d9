"""COCO panoptic reader: id encoding, PNG round trip, the dataset on a generated set, Cityscapes layout, errors."""
import json
import shutil

import numpy as np
import PIL.Image
import pytest
import torch

from panoptic_ros.config import DataConfig
from panoptic_ros.data import (
    CocoPanopticDataset,
    PanopticJson,
    build_dataset,
    collate_fn,
    id2rgb,
    read_image,
    read_panoptic_png,
    rgb2id,
    segments_from_id_map,
    write_image,
    write_panoptic_png,
)
from panoptic_ros.data.transforms import ResizeShortestEdge


def test_rgb2id_uses_all_three_channels():
    rgb = np.array([[[1, 2, 3], [255, 255, 255]]], np.uint8)
    assert rgb2id(rgb).tolist() == [[1 + 2 * 256 + 3 * 65536, 256**3 - 1]]
    ids = np.array([[0, 1, 256, 65536, 123456789 % 256**3]], np.int64)
    assert (rgb2id(id2rgb(ids)) == ids).all()
    with pytest.raises(ValueError, match="segment ids must be in"):
        id2rgb(np.array([[256**3]]))


def test_panoptic_png_round_trip_is_rgb_ordered(tmp_path):
    ids = np.array([[0, 1, 2], [70000, 16777215, 5]], np.int32)
    write_panoptic_png(tmp_path / "p.png", ids)
    assert (read_panoptic_png(tmp_path / "p.png") == ids).all()
    # an independent reader (PIL, as panopticapi uses) sees the same ids: R is the low byte
    pil = np.array(PIL.Image.open(tmp_path / "p.png"), dtype=np.uint32)
    assert (pil[..., 0] + 256 * pil[..., 1] + 65536 * pil[..., 2] == ids).all()


def test_image_round_trip_is_rgb(tmp_path):
    img = np.zeros((4, 5, 3), np.uint8)
    img[..., 0] = 200
    write_image(tmp_path / "a.png", img)
    back = read_image(tmp_path / "a.png")
    assert back.shape == (4, 5, 3) and (back[..., 0] == 200).all() and (back[..., 2] == 0).all()


def test_segments_from_id_map_area_and_bbox():
    m = np.zeros((5, 6), np.int32)
    m[1:3, 2:5] = 7
    m[4, 0] = 8
    segs = segments_from_id_map(m, lambda sid: sid * 10)
    assert segs == [{"id": 7, "category_id": 70, "iscrowd": 0, "bbox": [2, 1, 3, 2], "area": 6},
                    {"id": 8, "category_id": 80, "iscrowd": 0, "bbox": [0, 4, 1, 1], "area": 1}]


def test_dataset_on_a_generated_set(synthetic_dataset):
    ds = CocoPanopticDataset(synthetic_dataset)
    data = json.loads((synthetic_dataset / "panoptic.json").read_text())
    assert len(ds) == len(data["annotations"]) == 6
    assert ds.categories.to_coco() == data["categories"]
    n_boxes = 0
    for i in range(len(ds)):
        img, t = ds[i]
        assert img.shape == (3, 120, 160) and img.dtype == torch.float32 and 0 <= img.min() and img.max() <= 1
        assert set(t) >= {"semantic", "boxes", "labels", "instance_map", "center_offsets", "offset_weight",
                          "image_id", "file_name", "orig_size"}
        assert t["orig_size"] == (120, 160) and t["image_id"] == data["images"][i]["id"]
        ann = data["annotations"][i]
        things = [s for s in ann["segments_info"] if s["category_id"] <= 4 and not s["iscrowd"]]
        # boxes equal the JSON bboxes of the non-crowd things (xywh -> pixel-edge xyxy)
        expected = sorted([s["bbox"][0], s["bbox"][1], s["bbox"][0] + s["bbox"][2], s["bbox"][1] + s["bbox"][3]]
                          for s in things)
        assert sorted(t["boxes"].tolist()) == expected
        ids, segs = ds.load_panoptic(i)
        crowd_or_void = (ids == 0) | np.isin(ids, [s["id"] for s in segs if s["iscrowd"]])
        assert ((t["semantic"] == 255).numpy() == crowd_or_void).all()
        n_boxes += len(things)
    assert n_boxes > 10
    images, targets = collate_fn([ds[0], ds[1]])
    assert len(images) == 2 and targets[1]["image_id"] == data["images"][1]["id"]


def test_dataset_applies_transforms_before_targets(synthetic_dataset):
    ds = CocoPanopticDataset(synthetic_dataset, transforms=ResizeShortestEdge(60, 1000))
    img, t = ds[0]
    assert img.shape == (3, 60, 80) and t["semantic"].shape == (60, 80) and t["orig_size"] == (120, 160)
    assert (t["boxes"][:, 2] <= 80).all() and (t["boxes"][:, 3] <= 60).all()


def test_json_index_maps_ids_and_file_names(synthetic_dataset):
    pj = PanopticJson.load(synthetic_dataset / "panoptic.json")
    assert pj.id_to_file_name[1] == "000001.jpg"
    assert pj.file_name_to_id["000002.jpg"] == 2 and pj.file_name_to_id["000002"] == 2
    assert pj.annotation(3)["file_name"] == "000003.png"


def _copy(src, tmp_path):
    dst = tmp_path / "ds"
    shutil.copytree(src, dst)
    return dst


def test_missing_annotation_file_is_named(synthetic_dataset, tmp_path):
    root = _copy(synthetic_dataset, tmp_path)
    (root / "panoptic.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"annotation file not found: .*ds/panoptic.json"):
        CocoPanopticDataset(root)


@pytest.mark.parametrize("text, match", [("{\"annotations\": [", "corrupt"), ("[1, 2]", "needs an 'annotations'"),
                                         ("{\"annotations\": [], \"categories\": 3}", "'categories' list")])
def test_corrupt_annotation_file_is_named(synthetic_dataset, tmp_path, text, match):
    root = _copy(synthetic_dataset, tmp_path)
    (root / "panoptic.json").write_text(text)
    with pytest.raises(ValueError, match=rf"ds/panoptic.json.*{match}"):
        CocoPanopticDataset(root)


def test_missing_or_corrupt_png_and_image_are_named(synthetic_dataset, tmp_path):
    root = _copy(synthetic_dataset, tmp_path)
    (root / "panoptic" / "000002.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"panoptic/000002.png"):
        CocoPanopticDataset(root)
    root = _copy(synthetic_dataset, tmp_path / "b")
    (root / "images" / "000003.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"images/000003.jpg"):
        CocoPanopticDataset(root)
    root = _copy(synthetic_dataset, tmp_path / "c")
    (root / "panoptic" / "000001.png").write_bytes(b"garbage")
    ds = CocoPanopticDataset(root)
    with pytest.raises(ValueError, match=r"panoptic/000001.png: not a readable panoptic PNG"):
        ds[0]


def test_png_with_undeclared_segment_names_the_file(synthetic_dataset, tmp_path):
    root = _copy(synthetic_dataset, tmp_path)
    m = read_panoptic_png(root / "panoptic" / "000001.png")
    m[0, 0] = 4242
    write_panoptic_png(root / "panoptic" / "000001.png", m)
    with pytest.raises(ValueError, match=r"000001.png .*\[4242\]"):
        CocoPanopticDataset(root)[0]


def test_image_and_png_of_different_size_are_rejected(synthetic_dataset, tmp_path):
    root = _copy(synthetic_dataset, tmp_path)
    write_image(root / "images" / "000001.jpg", np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError, match=r"000001.jpg is 10x10 but its panoptic PNG .*000001.png is 160x120"):
        CocoPanopticDataset(root)[0]


def test_cityscapes_layout_with_city_folders_and_string_ids(synthetic_dataset, tmp_path):
    """As written by cityscapesscripts' createPanopticImgs: leftImg8bit/val/<city>/..., string image ids."""
    data = json.loads((synthetic_dataset / "panoptic.json").read_text())
    images_dir = tmp_path / "leftImg8bit" / "val" / "aachen"
    pan_dir = tmp_path / "gtFine" / "cityscapes_panoptic_val"
    images_dir.mkdir(parents=True)
    pan_dir.mkdir(parents=True)
    for img, ann in zip(data["images"], data["annotations"]):
        stem = f"aachen_000000_{img['id']:06d}"
        shutil.copy(synthetic_dataset / "images" / img["file_name"], images_dir / f"{stem}_leftImg8bit.png")
        shutil.copy(synthetic_dataset / "panoptic" / ann["file_name"], pan_dir / f"{stem}_gtFine_panoptic.png")
        img.update(id=stem, file_name=f"{stem}_leftImg8bit.png")
        ann.update(image_id=stem, file_name=f"{stem}_gtFine_panoptic.png")
    ann_json = tmp_path / "gtFine" / "cityscapes_panoptic_val.json"
    ann_json.write_text(json.dumps(data))
    ds = CocoPanopticDataset(image_dir=tmp_path / "leftImg8bit" / "val", ann_json=ann_json)  # ann_dir: X.json -> X
    img, t = ds[2]
    assert t["image_id"] == "aachen_000000_000003" and img.shape == (3, 120, 160)
    assert ds.samples[2].image_path == images_dir / "aachen_000000_000003_leftImg8bit.png"


def test_build_dataset_from_config(synthetic_dataset):
    with pytest.raises(ValueError, match="data.val is empty"):
        build_dataset(DataConfig(), "val")
    cfg = DataConfig(train=str(synthetic_dataset), min_size=60, max_size=100)
    img, t = build_dataset(cfg, "train")[0]
    assert img.shape == (3, 60, 80)
    with pytest.raises(FileNotFoundError, match="dataset folder not found"):
        build_dataset(DataConfig(train=str(synthetic_dataset / "nope")))


def test_coco_like_generator_has_coco_ids_sizes_and_segment_counts(tmp_path):
    from panoptic_ros.data.coco_like import COCO_STUFF_IDS, COCO_THING_IDS, make_coco_like_dataset

    root = make_coco_like_dataset(tmp_path / "cl", 3, seed=2)
    data = json.loads((root / "panoptic.json").read_text())
    cats = data["categories"]
    assert len(cats) == 133 and sum(c["isthing"] for c in cats) == 80
    assert len(set(COCO_THING_IDS) | set(COCO_STUFF_IDS)) == 133 and max(COCO_STUFF_IDS) == 200
    assert 12 not in COCO_THING_IDS and 91 not in COCO_STUFF_IDS  # COCO's gaps
    counts = [len(a["segments_info"]) for a in data["annotations"]]
    assert all(15 <= n <= 20 for n in counts), counts
    ds = CocoPanopticDataset(root)
    image, target = ds[0]
    assert image.shape == (3, 480, 640) and len(target["boxes"]) >= 5
    assert (target["semantic"] == 255).any()  # void boundaries
    # reproducible from the seed
    again = make_coco_like_dataset(tmp_path / "again", 1, seed=2)
    png = "panoptic/000000000001.png"
    assert (again / png).read_bytes() == (root / png).read_bytes()


def test_compact_samples_hold_the_same_values_in_fewer_bytes(synthetic_dataset):
    full = CocoPanopticDataset(synthetic_dataset)
    compact = CocoPanopticDataset(synthetic_dataset, compact=True)
    (im_f, t_f), (im_c, t_c) = full[0], compact[0]
    assert im_c.dtype == torch.uint8 and torch.equal(im_c.float().div_(255.0), im_f)
    assert t_c["semantic"].dtype == torch.uint8 and torch.equal(t_c["semantic"].long(), t_f["semantic"])
    assert t_c["instance_map"].dtype == torch.int32 and torch.equal(t_c["instance_map"].long(), t_f["instance_map"])
