"""What real COCO / Cityscapes files contain, on hand-made files: grayscale JPEGs, EXIF orientation tags, crowd
segments, void pixels, category ids with gaps, an image without any segment, one-pixel segments, a panoptic PNG
of another size than its image, and file names that point outside the dataset folder. Each is read by the
dataset, turned into targets (boxes, offsets, crowd ignored) and scored by `panoptic pq`."""
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from panoptic_ros.cli.main import main
from panoptic_ros.data import CocoPanopticDataset, PanopticJson, read_panoptic_png, write_panoptic_png
from panoptic_ros.data.categories import IGNORE_LABEL
from panoptic_ros.data.transforms import ResizeShortestEdge
from panoptic_ros.evaluation.pq import pq_compute

_spec = importlib.util.spec_from_file_location(
    "pq_oracle", Path(__file__).resolve().parents[1] / "evaluation" / "pq_oracle.py")
pq_oracle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pq_oracle)

# COCO-like ids with gaps; sorted ids give channels person 0, car 1, kite 2, sky 3, road 4
CATEGORIES = [{"id": 150, "name": "road", "isthing": 0}, {"id": 1, "name": "person", "isthing": 1},
              {"id": 3, "name": "car", "isthing": 1}, {"id": 38, "name": "kite", "isthing": 1},
              {"id": 119, "name": "sky", "isthing": 0}]
H, W = 30, 40


def _scene_a():
    """sky / road, a person, a crowd of cars, void pixels, a one-pixel kite."""
    m = np.zeros((H, W), np.int32)
    m[:15] = 10                     # sky
    m[15:] = 11                     # road
    m[8:24, 5:12] = 5               # person
    m[18:28, 20:36] = 7             # crowd of cars
    m[0:4, 30:40] = 0               # void
    m[2, 2] = 9                     # one-pixel kite
    segs = [{"id": 10, "category_id": 119, "iscrowd": 0}, {"id": 11, "category_id": 150, "iscrowd": 0},
            {"id": 5, "category_id": 1, "iscrowd": 0}, {"id": 7, "category_id": 3, "iscrowd": 1},
            {"id": 9, "category_id": 38, "iscrowd": 0}]
    for seg in segs:  # COCO lists each segment's area
        seg["area"] = int((m == seg["id"]).sum())
    return m, segs


def _write_jpeg(path, rgb, orientation=None, gray=False):
    img = PIL.Image.fromarray(rgb[..., 0] if gray else rgb, "L" if gray else "RGB")
    kwargs = {"quality": 95}
    if orientation is not None:
        exif = PIL.Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif.tobytes()
    img.save(path, **kwargs)


def _marked(h, w):
    """An image whose top-left 6x6 block is white and the rest dark: shows where a rotation moved it."""
    rgb = np.full((h, w, 3), 40, np.uint8)
    rgb[:6, :6] = 255
    return rgb


@pytest.fixture(scope="module")
def real_like(tmp_path_factory):
    """A COCO-layout folder of 4 images: a (grayscale JPEG, everything), b (no segment), c (EXIF-rotated, annotated
    as displayed), d (EXIF-rotated, annotated on the stored pixels)."""
    root = tmp_path_factory.mktemp("real") / "ds"
    (root / "images").mkdir(parents=True)
    (root / "panoptic").mkdir()
    m, segs = _scene_a()
    _write_jpeg(root / "images" / "a.jpg", np.repeat((m * 20 % 250).astype(np.uint8)[..., None], 3, 2), gray=True)
    write_panoptic_png(root / "panoptic" / "a.png", m)
    _write_jpeg(root / "images" / "b.jpg", np.full((H, W, 3), 90, np.uint8))
    write_panoptic_png(root / "panoptic" / "b.png", np.zeros((H, W), np.int32))
    # stored W x H = 40 x 30, orientation 6 = rotate 90 degrees clockwise for display -> 30 x 40
    for name, png_shape in (("c", (W, H)), ("d", (H, W))):
        _write_jpeg(root / "images" / f"{name}.jpg", _marked(H, W), orientation=6)
        write_panoptic_png(root / "panoptic" / f"{name}.png", np.full(png_shape, 10, np.int32))
    anns = [{"image_id": i, "file_name": f"{n}.png", "segments_info": s} for i, (n, s) in enumerate(
        [("a", segs), ("b", []), ("c", [{"id": 10, "category_id": 119, "iscrowd": 0, "area": H * W}]),
         ("d", [{"id": 10, "category_id": 119, "iscrowd": 0, "area": H * W}])])]
    images = [{"id": i, "file_name": f"{n}.jpg"} for i, n in enumerate("abcd")]
    (root / "panoptic.json").write_text(json.dumps({"images": images, "annotations": anns,
                                                    "categories": CATEGORIES}))
    return root


def test_grayscale_jpeg_reads_as_rgb_and_category_gaps_map_to_channels(real_like):
    ds = CocoPanopticDataset(real_like)
    assert [c.id for c in ds.categories.categories] == [1, 3, 38, 119, 150]
    image, target = ds[0]
    assert image.shape == (3, H, W) and torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])
    sem = target["semantic"]
    assert sem[0, 0] == 3 and sem[29, 0] == 4 and sem[10, 6] == 0 and sem[2, 2] == 2  # sky, road, person, kite


def test_void_and_crowd_pixels_are_ignored_and_get_no_box_or_offset(real_like):
    _, t = CocoPanopticDataset(real_like)[0]
    crowd = np.zeros((H, W), bool)
    crowd[18:28, 20:36] = True
    assert (t["semantic"][torch.from_numpy(crowd)] == IGNORE_LABEL).all()
    assert (t["semantic"][0:4, 30:40] == IGNORE_LABEL).all()
    assert t["offset_weight"][torch.from_numpy(crowd)].sum() == 0 and t["instance_map"][20, 25] == -1
    assert t["labels"].tolist() == [0, 2]                            # person, kite; no car box from the crowd
    assert t["boxes"][0].tolist() == [5, 8, 12, 24]


def test_one_pixel_segment_box_and_offset(real_like):
    _, t = CocoPanopticDataset(real_like)[0]
    assert t["boxes"][1].tolist() == [2, 2, 3, 3]                    # pixel-edge box of pixel (2, 2)
    assert t["center_offsets"][:, 2, 2].tolist() == [0.0, 0.0]       # its center is the pixel center
    assert t["offset_weight"][2, 2] == 1
    # downscaled: the kite may vanish, nothing breaks and what remains is consistent
    ds = CocoPanopticDataset(real_like, transforms=ResizeShortestEdge(7, 100))
    _, small = ds[0]
    assert small["semantic"].shape == (7, 9) and len(small["boxes"]) == len(small["labels"]) <= 2
    assert len(small["boxes"]) == int(small["instance_map"].max()) + 1


def test_image_without_segments_gives_empty_targets_and_a_finite_loss(real_like):
    from panoptic_ros.config import load_config
    from panoptic_ros.modeling import build_model

    ds = CocoPanopticDataset(real_like)
    image_b, t_b = ds[1]
    assert t_b["boxes"].shape == (0, 4) and (t_b["semantic"] == IGNORE_LABEL).all()
    assert t_b["offset_weight"].sum() == 0
    cfg = load_config(Path(__file__).resolve().parents[2] / "panoptic_ros" / "configs" / "smoke.yaml")
    model = build_model(cfg, ds.categories)
    for batch in ([1], [0, 1]):
        losses = model([ds[i][0] for i in batch], [ds[i][1] for i in batch])
        assert torch.isfinite(losses["loss"]), (batch, losses)
    losses["loss"].backward()


def test_exif_orientation_follows_the_panoptic_png(real_like):
    ds = CocoPanopticDataset(real_like)
    # c: annotated as displayed -> the image is turned (90 degrees clockwise: the white block moves top-right)
    image_c, t_c = ds[2]
    assert image_c.shape == (3, W, H) and t_c["semantic"].shape == (W, H)
    assert image_c[0, :6, -6:].min() > 0.9 and image_c[0, -6:, :6].max() < 0.3
    # d: annotated on the stored pixels (the tag ignored by the annotation tool) -> stored pixels
    image_d, t_d = ds[3]
    assert image_d.shape == (3, H, W) and image_d[0, :6, :6].min() > 0.9
    assert ds.load_image(3).shape == (H, W, 3)  # the evaluation path reads it the same way


def test_png_of_another_size_than_its_image_is_a_clear_error(real_like, tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(real_like, root)
    write_panoptic_png(root / "panoptic" / "b.png", np.zeros((H + 2, W), np.int32))
    ds = CocoPanopticDataset(root)
    with pytest.raises(ValueError, match=r"b.jpg is 40x30 but its panoptic PNG .*b.png is 40x32 \(image 1\)"):
        ds[1]
    with pytest.raises(ValueError, match="b.png is 40x32"):
        ds.load_image(1)


@pytest.mark.parametrize("name", ["/etc/passwd", "../outside.png", "sub/../../x.png", "..\\x.png", "C:\\x.png"])
@pytest.mark.parametrize("where", ["images", "annotations"])
def test_file_names_outside_the_folder_are_refused(real_like, tmp_path, name, where):
    data = json.loads((real_like / "panoptic.json").read_text())
    data[where][1]["file_name"] = name
    bad = tmp_path / "panoptic.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"(images entry|annotation of image) 1: file_name .* (absolute|'\.\.')"):
        PanopticJson.load(bad)


def test_relative_sub_folders_are_accepted(real_like, tmp_path):
    data = json.loads((real_like / "panoptic.json").read_text())
    data["images"][0]["file_name"] = "city/a_x.jpg"
    (tmp_path / "p.json").write_text(json.dumps(data))
    assert PanopticJson.load(tmp_path / "p.json").images[0]["file_name"] == "city/a_x.jpg"


def _predictions(real_like, tmp_path):
    """Predictions for a and b: the person found, a car over the crowd (ignored), a segment on void (ignored),
    the kite missed (FN), a road segment in the image without segments (all void: ignored)."""
    pred = tmp_path / "pred"
    (pred / "panoptic").mkdir(parents=True)
    m, _ = _scene_a()
    p = np.where(m == 9, 10, m)     # kite missed (sky there)
    p[p == 7] = 0
    p[19:27, 21:35] = 7             # car inside the crowd region
    p[0:4, 30:40] = 12              # a sky segment on void
    write_panoptic_png(pred / "panoptic" / "a.png", p)
    pb = np.zeros((H, W), np.int32)
    pb[:10, :10] = 3
    write_panoptic_png(pred / "panoptic" / "b.png", pb)
    anns = [{"image_id": 0, "file_name": "a.png", "segments_info": [
        {"id": 10, "category_id": 119}, {"id": 11, "category_id": 150}, {"id": 5, "category_id": 1},
        {"id": 7, "category_id": 3}, {"id": 12, "category_id": 119}]},
        {"image_id": 1, "file_name": "b.png", "segments_info": [{"id": 3, "category_id": 150}]}]
    (pred / "panoptic.json").write_text(json.dumps({"annotations": anns}))
    gt = tmp_path / "gt.json"
    data = json.loads((real_like / "panoptic.json").read_text())
    data["annotations"], data["images"] = data["annotations"][:2], data["images"][:2]
    gt.write_text(json.dumps(data))
    return gt, pred


def test_pq_on_real_like_files_equals_the_oracle(real_like, tmp_path):
    gt, pred = _predictions(real_like, tmp_path)
    ours = pq_compute(gt, pred / "panoptic.json", real_like / "panoptic", pred / "panoptic", progress=False)
    ref = pq_oracle.oracle_pq_files(gt, pred / "panoptic.json", real_like / "panoptic", pred / "panoptic",
                                    crowd_region="last_listed")
    for cid, r in ref["per_class"].items():
        o = ours["per_class"][str(cid)]
        assert (o["tp"], o["fp"], o["fn"]) == (r["tp"], r["fp"], r["fn"]), cid
        assert o["pq"] == pytest.approx(r["pq"] or 0.0)
    # the hand count: the car over the crowd, the sky on void and the road in the all-void image b are not
    # false positives; the kite is a false negative; the person a true positive
    assert [ours["per_class"][c]["fp"] for c in ("3", "119", "150")] == [0, 0, 0]
    assert ours["per_class"]["38"]["fn"] == 1 and ours["per_class"]["1"]["tp"] == 1
    assert ours["All"]["pq"] == pytest.approx(ref["All"]["pq"])


def test_pq_cli_size_mismatch_and_outside_paths_are_one_line_errors(real_like, tmp_path, capsys):
    gt, pred = _predictions(real_like, tmp_path)
    write_panoptic_png(pred / "panoptic" / "b.png", np.zeros((H, W + 1), np.int32))
    data = json.loads((pred / "panoptic.json").read_text())
    data["annotations"][1]["segments_info"] = []
    (pred / "panoptic.json").write_text(json.dumps(data))
    argv = ["pq", "--gt-json", str(gt), "--gt-folder", str(real_like / "panoptic"),
            "--pred-json", str(pred / "panoptic.json"), "--pred-folder", str(pred / "panoptic")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()  # the progress bar, then the error
    assert "Traceback" not in err and "b.png is 41x30" in err.splitlines()[-1] and "40x30" in err.splitlines()[-1]
    data["annotations"][1]["file_name"] = "../panoptic/b.png"
    (pred / "panoptic.json").write_text(json.dumps(data))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'../panoptic/b.png'" in err
    assert read_panoptic_png(pred / "panoptic" / "b.png").shape == (H, W + 1)  # nothing was touched
