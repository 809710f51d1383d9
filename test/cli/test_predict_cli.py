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
                 "--policy", "highest_confidence", "--no-progress", "--sequence"]) == 0
    names = {c.id: c.name for c in CocoPanopticDataset(data).categories.categories}
    images = sorted((data / "images").iterdir())
    assert len(list(out.glob("*"))) == 3 * len(images) + 1     # + summary.json
    assert json.loads((out / "summary.json").read_text())["written"] == len(images)
    for p in images:
        _check_outputs(out, p, names)
        info = json.loads((out / f"{p.stem}.json").read_text())
        assert info["policy"] == "highest_confidence" and info["tracking"]   # --sequence: tracked
        for s in info["segments"]:   # tracked ids: stuff = channel + 1, things above THING_ID_BASE
            channel = sorted(names).index(s["category_id"])
            assert s["id"] > 1000 if s["isthing"] else s["id"] == channel + 1


def test_predict_single_file_and_glob(setup, tmp_path):
    data, ckpt = setup
    first = sorted((data / "images").iterdir())[0]
    assert main([*PREDICT, "--model", str(ckpt), "--images", str(first), "--out", str(tmp_path / "a"),
                 "--no-progress"]) == 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [f"{first.stem}.json", f"{first.stem}_overlay.jpg",
                                                                  f"{first.stem}_panoptic.png", "summary.json"]
    assert main([*PREDICT, "--model", str(ckpt), "--images", str(data / "images" / "*.jpg"),
                 "--out", str(tmp_path / "b"), "--no-overlay", "--no-progress", "--no-tracking"]) == 0
    assert len(list((tmp_path / "b").glob("*_panoptic.png"))) == 2
    for p in (tmp_path / "b").glob("0*.json"):   # without tracking: the panoptic head's ids 1..K
        info = json.loads(p.read_text())
        ids = sorted(s["id"] for s in info["segments"])
        assert not info["tracking"] and ids == list(range(1, len(ids) + 1))
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


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    from panoptic_ros.data.synth import make_synthetic_sequence
    return make_synthetic_sequence(tmp_path_factory.mktemp("seq") / "s", 4, seed=17, width=256, height=192, pan=8)


def test_sequence_with_tracking_keeps_ids_and_colours(sequence, tmp_path):
    """The shipped model on a panning sequence: stuff ids are channel + 1, thing ids are track ids above 1000 that
    stay on their object (and so does its overlay colour); without tracking the ids are 1..K per frame."""
    from panoptic_ros.tracking import THING_ID_BASE

    out = tmp_path / "t"
    assert main(["predict", "--runtime", "torch", "--images", str(sequence / "images"), "--out", str(out),
                 "--no-progress", "--fps", "5"]) == 0
    gt = json.loads((sequence / "panoptic.json").read_text())["annotations"]
    per_object: dict[int, list] = {}
    for k, ann in enumerate(gt):
        stem = Path(ann["file_name"]).stem
        info = json.loads((out / f"{stem}.json").read_text())
        assert info["tracking"] and info["stamp"] == pytest.approx(k / 5)
        pan = read_panoptic_png(out / f"{stem}_panoptic.png")
        overlay = read_image(out / f"{stem}_overlay.jpg")
        for s in info["segments"]:
            assert (s["id"] > THING_ID_BASE) == s["isthing"]
            assert s["isthing"] == ("track_age" in s)
        gt_pan = read_panoptic_png(sequence / "panoptic" / ann["file_name"])
        for seg in ann["segments_info"]:
            if seg["category_id"] > 4:
                continue
            ids, counts = np.unique(pan[gt_pan == seg["id"]], return_counts=True)
            if counts.max() > 0.8 * seg["area"] and ids[counts.argmax()] > THING_ID_BASE:
                per_object.setdefault(seg["track_id"], []).append(int(ids[counts.argmax()]))
        assert overlay.shape == pan.shape + (3,)
    assert sum(len(v) >= 3 for v in per_object.values()) >= 2, per_object   # objects found in several frames
    assert all(len(set(v)) == 1 for v in per_object.values()), per_object
    summary = json.loads((out / "summary.json").read_text())
    assert summary["written"] == 4 and summary["tracking"] and summary["tracker_ms_mean"] > 0



def test_frames_above_max_input_pixels_are_skipped_and_counted(setup, tmp_path, capsys):
    import cv2

    data, ckpt = setup
    folder = tmp_path / "in"
    folder.mkdir()
    small = read_image(sorted((data / "images").iterdir())[0])
    cv2.imwrite(str(folder / "a_small.png"), small[:60, :80])
    cv2.imwrite(str(folder / "b_big.jpg"), np.zeros((300, 400, 3), np.uint8))
    cv2.imwrite(str(folder / "c_big.bmp"), np.zeros((300, 400, 3), np.uint8))   # no header check: after decoding
    out = tmp_path / "o"
    assert main([*PREDICT, "--model", str(ckpt), "--images", str(folder), "--out", str(out), "--no-progress",
                 "inference.max_input_pixels=10000"]) == 0
    assert "skipped 2 frame(s) above inference.max_input_pixels" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["written"] == 1 and [s["frame"].rsplit("/", 1)[1] for s in summary["skipped"]] == [
        "b_big.jpg", "c_big.bmp"]
    assert "400x300" in summary["skipped"][0]["reason"]
    assert (out / "a_small_panoptic.png").is_file() and not list(out.glob("b_big*"))


def test_video_input(setup, tmp_path):
    import cv2

    data, ckpt = setup
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 4.0, (160, 120))
    if not writer.isOpened():
        pytest.skip("OpenCV cannot write MJPG video here")
    for p in sorted((data / "images").iterdir()) * 2:
        writer.write(cv2.cvtColor(read_image(p), cv2.COLOR_RGB2BGR))
    writer.release()
    out = tmp_path / "v"
    assert main([*PREDICT, "--model", str(ckpt), "--images", str(video), "--out", str(out), "--no-progress",
                 "--no-overlay"]) == 0
    stems = sorted(p.name for p in out.glob("clip_*_panoptic.png"))
    assert stems == [f"clip_{i:06d}_panoptic.png" for i in range(4)]
    assert json.loads((out / "clip_000003.json").read_text())["stamp"] == pytest.approx(0.75)   # 3 / 4 fps
    assert main([*PREDICT, "--model", str(ckpt), "--images", str(video), "--out", str(tmp_path / "w"),
                 "--no-progress", "inference.max_input_pixels=100"]) == 0
    assert len(json.loads((tmp_path / "w" / "summary.json").read_text())["skipped"]) == 4


def test_a_folder_of_photos_is_not_a_video(setup, tmp_path):
    """Unrelated photos (a folder without frame metadata): ids 1..K per image, no tracking; --sequence tracks them
    (thing ids then continue across images as track ids)."""
    data, ckpt = setup
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in sorted((data / "images").iterdir()):
        (photos / p.name).write_bytes(p.read_bytes())
    base = [*PREDICT, "--model", str(ckpt), "--images", str(photos), "--no-overlay", "--no-progress",
            "inference.score_threshold=0.01"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["sequence"] is False and summary["tracking"] is False and summary["written"] == 2
    for p in photos.iterdir():
        info = json.loads((tmp_path / "a" / f"{p.stem}.json").read_text())
        assert not info["tracking"] and sorted(s["id"] for s in info["segments"]) == \
            list(range(1, len(info["segments"]) + 1))
    assert main([*base, "--out", str(tmp_path / "b"), "--sequence"]) == 0
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["sequence"] is True and summary["tracking"] is True
