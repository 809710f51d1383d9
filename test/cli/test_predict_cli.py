"""`panoptic predict`: a panoptic PNG, a JSON and an overlay per input (file, folder or glob); one-line errors."""
import json
from pathlib import Path

import numpy as np
import pytest

from panoptic_ros.cli.main import main
from panoptic_ros.config import load_config
from panoptic_ros.data import CocoPanopticDataset, make_synthetic_dataset, read_image, read_panoptic_png
from panoptic_ros.modeling import build_model, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("predict")
    data = make_synthetic_dataset(tmp / "d", 2, seed=8, width=160, height=120)
    cfg = load_config(ROOT / "panoptic_ros" / "configs" / "smoke.yaml",
                      ["inference.device=cpu", "inference.stuff_area_threshold=64"])
    model = build_model(cfg, CocoPanopticDataset(data).categories)
    return data, save_checkpoint(tmp / "model.safetensors", model, cfg, model.categories)


def _check_outputs(out, image_path, names):
    stem = image_path.stem
    pan = read_panoptic_png(out / f"{stem}_panoptic.png")
    image = read_image(image_path)
    assert pan.shape == image.shape[:2]
    overlay = read_image(out / f"{stem}_overlay.jpg")
    assert overlay.shape == image.shape
    info = json.loads((out / f"{stem}.json").read_text())
    assert (info["height"], info["width"]) == pan.shape
    segs = info["segments"]
    assert segs, "the stuff classes should give at least one segment"
    assert {s["id"] for s in segs} == set(np.unique(pan).tolist()) - {0}
    for s in segs:
        assert int((pan == s["id"]).sum()) == s["area"]
        assert s["category_name"] == names[s["category_id"]]
        x, y, w, h = s["bbox"]
        ys, xs = np.nonzero(pan == s["id"])
        assert [x, y, w, h] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]


def test_predict_folder_writes_three_files_per_image(setup, tmp_path):
    data, ckpt = setup
    out = tmp_path / "out"
    assert main(["predict", "--model", str(ckpt), "--images", str(data / "images"), "--out", str(out),
                 "--policy", "highest_confidence", "--no-progress"]) == 0
    names = {c.id: c.name for c in CocoPanopticDataset(data).categories.categories}
    images = sorted((data / "images").iterdir())
    assert len(list(out.iterdir())) == 3 * len(images)
    for p in images:
        _check_outputs(out, p, names)
        assert json.loads((out / f"{p.stem}.json").read_text())["policy"] == "highest_confidence"


def test_predict_single_file_and_glob(setup, tmp_path):
    data, ckpt = setup
    first = sorted((data / "images").iterdir())[0]
    assert main(["predict", "--model", str(ckpt), "--images", str(first), "--out", str(tmp_path / "a"),
                 "--no-progress"]) == 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [f"{first.stem}.json", f"{first.stem}_overlay.jpg",
                                                                  f"{first.stem}_panoptic.png"]
    assert main(["predict", "--model", str(ckpt), "--images", str(data / "images" / "*.jpg"),
                 "--out", str(tmp_path / "b"), "--no-overlay", "--no-progress"]) == 0
    assert len(list((tmp_path / "b").glob("*_panoptic.png"))) == 2
    assert not list((tmp_path / "b").glob("*_overlay.jpg"))


def test_missing_checkpoint_or_images_exit_2_with_one_line(setup, tmp_path, capsys):
    data, ckpt = setup
    code = main(["predict", "--model", str(tmp_path / "nope.safetensors"), "--images", str(data / "images"),
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "nope.safetensors" in err
    code = main(["predict", "--model", str(ckpt), "--images", str(tmp_path / "none" / "*.png"),
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "none" in err
