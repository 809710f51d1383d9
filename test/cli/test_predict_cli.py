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
PREDICT = ["predict", "--runtime", "torch"]  # the reference runtime: no export in these tests


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
    assert main([*PREDICT, "--model", str(ckpt), "--images", str(data / "images"), "--out", str(out),
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
    assert main([*PREDICT, "--model", str(ckpt), "--images", str(first), "--out", str(tmp_path / "a"),
                 "--no-progress"]) == 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [f"{first.stem}.json", f"{first.stem}_overlay.jpg",
                                                                  f"{first.stem}_panoptic.png"]
    assert main([*PREDICT, "--model", str(ckpt), "--images", str(data / "images" / "*.jpg"),
                 "--out", str(tmp_path / "b"), "--no-overlay", "--no-progress"]) == 0
    assert len(list((tmp_path / "b").glob("*_panoptic.png"))) == 2
    assert not list((tmp_path / "b").glob("*_overlay.jpg"))


def test_missing_checkpoint_or_images_exit_2_with_one_line(setup, tmp_path, capsys):
    data, ckpt = setup
    code = main([*PREDICT, "--model", str(tmp_path / "nope.safetensors"), "--images", str(data / "images"),
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "nope.safetensors" in err
    code = main([*PREDICT, "--model", str(ckpt), "--images", str(tmp_path / "none" / "*.png"),
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "none" in err


def test_settings_come_from_config_file_overrides_and_flags(setup, tmp_path, capsys):
    data, ckpt = setup
    first = sorted((data / "images").iterdir())[0]
    base = ["predict", "--runtime", "torch", "--model", str(ckpt), "--images", str(first), "--no-overlay",
            "--no-progress"]

    def segments(out):
        return json.loads((out / f"{first.stem}.json").read_text())["segments"]

    # no detections at threshold 1.0, so every pixel is stuff: segments exist unless the stuff area limit removes them
    assert main([*base, "--out", str(tmp_path / "a"), "inference.score_threshold=1.0",
                 "inference.stuff_area_threshold=0"]) == 0
    assert segments(tmp_path / "a") and not any(s["isthing"] for s in segments(tmp_path / "a"))
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("model:\n  fpn_channels: 8\n"  # model section: ignored (the checkpoint fixes it)
                        "inference:\n  score_threshold: 1.0\n  stuff_area_threshold: 100000000\n")
    assert main([*base, "--out", str(tmp_path / "b"), "--config", str(cfg_file)]) == 0
    assert segments(tmp_path / "b") == []
    # an override beats the file; the short flag beats an override
    assert main([*base, "--out", str(tmp_path / "c"), "--config", str(cfg_file), "--policy", "smallest_first",
                 "inference.stuff_area_threshold=0", "inference.merge_policy=closest_center"]) == 0
    info = json.loads((tmp_path / "c" / f"{first.stem}.json").read_text())
    assert info["policy"] == "smallest_first" and info["segments"]


@pytest.mark.parametrize("override, message", [("node.overlay_alpha=2", "node.overlay_alpha"),
                                               ("model.fpn_channels=8", "only reads the inference, node")])
def test_bad_or_unused_settings_exit_2_with_one_line(setup, tmp_path, capsys, override, message):
    data, ckpt = setup
    code = main([*PREDICT, "--model", str(ckpt), "--images", str(data / "images"),
                 "--out", str(tmp_path / "o"), override])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err
