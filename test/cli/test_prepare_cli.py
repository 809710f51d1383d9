"""`panoptic prepare coco|cityscapes`: layout checks that list what is missing, and dataset folders the training
reader loads, on tiny hand-made downloads."""
import json
import shutil

import cv2
import numpy as np
import pytest

from panoptic_ros.cli.main import main
from panoptic_ros.data import make_synthetic_dataset
from panoptic_ros.data.coco_panoptic import CocoPanopticDataset, read_panoptic_png

CITY_STEM = "aachen_000000_000019"


@pytest.fixture
def coco_root(tmp_path):
    """A COCO download holding val2017 only: 2 images, the panoptic JSON and PNGs."""
    syn = make_synthetic_dataset(tmp_path / "syn", 2, seed=3, width=64, height=48)
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    shutil.copytree(syn / "images", root / "val2017")
    shutil.copytree(syn / "panoptic", root / "annotations" / "panoptic_val2017")
    shutil.copy(syn / "panoptic.json", root / "annotations" / "panoptic_val2017.json")
    return root


def test_coco_links_a_dataset_the_reader_loads(coco_root, capsys):
    assert main(["prepare", "coco", "--root", str(coco_root), "--splits", "val2017"]) == 0
    folder = coco_root / "panoptic_ros" / "val2017"
    assert (folder / "images").is_symlink() and (folder / "panoptic.json").is_symlink()
    ds = CocoPanopticDataset(folder)
    assert len(ds) == 2 and ds[0][0].shape == (3, 48, 64)
    summary = json.loads((coco_root / "panoptic_ros" / "prepare.json").read_text())
    assert summary["splits"]["val2017"]["annotations"] == 2
    assert "val2017:" in capsys.readouterr().out
    # running again replaces its own links
    assert main(["prepare", "coco", "--root", str(coco_root), "--splits", "val2017"]) == 0


def test_coco_lists_everything_missing(coco_root, capsys):
    shutil.rmtree(coco_root / "annotations" / "panoptic_val2017")
    (coco_root / "annotations" / "panoptic_val2017.zip").write_bytes(b"")
    assert main(["prepare", "coco", "--root", str(coco_root)]) == 2     # default splits: train2017 too
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    for part in ("missing train2017/", "missing annotations/panoptic_train2017.json",
                 "missing annotations/panoptic_train2017/", "missing annotations/panoptic_val2017/",
                 f"unzip {coco_root / 'annotations' / 'panoptic_val2017.zip'}"):
        assert part in err
    assert not (coco_root / "panoptic_ros").exists()


def test_coco_names_missing_files_and_keeps_real_folders(coco_root, capsys):
    (coco_root / "val2017" / "000002.jpg").unlink()
    (coco_root / "annotations" / "panoptic_val2017" / "000001.png").unlink()
    assert main(["prepare", "coco", "--root", str(coco_root), "--splits", "val2017"]) == 2
    err = capsys.readouterr().err
    assert "1 image(s)" in err and "000002.jpg" in err and "1 panoptic PNG(s)" in err and "000001.png" in err
    (coco_root / "annotations" / "panoptic_val2017.json").write_text(json.dumps({"images": []}))
    assert main(["prepare", "coco", "--root", str(coco_root), "--splits", "val2017"]) == 2
    assert "is not a COCO panoptic JSON" in capsys.readouterr().err

    complete = make_synthetic_dataset(coco_root.parent / "syn2", 1, seed=4, width=64, height=48)
    shutil.rmtree(coco_root)
    (coco_root / "annotations").mkdir(parents=True)
    shutil.copytree(complete / "images", coco_root / "val2017")
    shutil.copytree(complete / "panoptic", coco_root / "annotations" / "panoptic_val2017")
    shutil.copy(complete / "panoptic.json", coco_root / "annotations" / "panoptic_val2017.json")
    out = coco_root / "out"
    (out / "val2017" / "images").mkdir(parents=True)       # a real folder where a link would go: never replaced
    assert main(["prepare", "coco", "--root", str(coco_root), "--splits", "val2017", "--out", str(out)]) == 2
    assert "not a symbolic link" in capsys.readouterr().err
    assert (out / "val2017" / "images").is_dir() and not (out / "val2017" / "images").is_symlink()


def cityscapes_root(tmp_path, with_image=True):
    """One 64x32 Cityscapes frame: road (7) below, sky (23) above, two cars (26000, 26001), a person crowd (24)."""
    ids = np.full((32, 64), 23, np.uint16)
    ids[16:] = 7
    ids[10:20, 4:20] = 26000
    ids[12:24, 30:50] = 26001
    ids[20:30, 54:60] = 24
    root = tmp_path / "cityscapes"
    gt = root / "gtFine" / "val" / "aachen"
    gt.mkdir(parents=True)
    assert cv2.imwrite(str(gt / f"{CITY_STEM}_gtFine_instanceIds.png"), ids)
    img_dir = root / "leftImg8bit" / "val" / "aachen"
    img_dir.mkdir(parents=True)
    if with_image:
        rgb = np.random.default_rng(0).integers(0, 255, (32, 64, 3), dtype=np.uint8)
        assert cv2.imwrite(str(img_dir / f"{CITY_STEM}_leftImg8bit.png"), rgb)
    return root


def test_cityscapes_is_converted_with_cityscapesscripts(tmp_path):
    root = cityscapes_root(tmp_path)
    assert main(["prepare", "cityscapes", "--root", str(root), "--splits", "val"]) == 0
    folder = root / "panoptic_ros" / "val"
    data = json.loads((folder / "panoptic.json").read_text())
    assert len(data["categories"]) == 19 and sum(c["isthing"] for c in data["categories"]) == 8
    segs = {s["id"]: s for s in data["annotations"][0]["segments_info"]}
    assert segs[26000]["category_id"] == 26 and segs[26000]["iscrowd"] == 0
    assert segs[26000]["bbox"] == [4, 10, 16, 10]
    assert segs[24]["iscrowd"] == 1 and segs[7]["category_id"] == 7
    png = read_panoptic_png(folder / "panoptic" / data["annotations"][0]["file_name"])
    assert (png[12, 30:50] == 26001).all()

    ds = CocoPanopticDataset(folder)
    img, target = ds[0]
    assert img.shape == (3, 32, 64) and target["image_id"] == CITY_STEM
    assert sorted(target["boxes"].tolist()) == [[4.0, 10.0, 20.0, 20.0], [30.0, 12.0, 50.0, 24.0]]  # crowd: no box
    # a second run reuses the conversion (JSON covers every frame)
    stamp = (root / "panoptic_ros" / "cityscapes_panoptic_val.json").stat().st_mtime_ns
    assert main(["prepare", "cityscapes", "--root", str(root), "--splits", "val"]) == 0
    assert (root / "panoptic_ros" / "cityscapes_panoptic_val.json").stat().st_mtime_ns == stamp


def test_cityscapes_lists_everything_missing(tmp_path, capsys):
    root = cityscapes_root(tmp_path, with_image=False)
    assert main(["prepare", "cityscapes", "--root", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "missing leftImg8bit/train/" in err and "missing gtFine/train/" in err
    assert f"1 image(s) of gtFine/val missing from leftImg8bit/val: aachen/{CITY_STEM}_leftImg8bit.png" in err
    assert not (root / "panoptic_ros").exists()
