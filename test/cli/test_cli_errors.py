"""One-line errors and readable output of the commands (issue 20 items 8 and 9): the sub-command's own usage and the
closest flag for a typo, what --data must hold, the checkpoint beside a sidecar given as --model, a class mismatch
in one line, bag eval into an earlier run's folder (--overwrite) and its short console table."""
import json
from pathlib import Path

import pytest

from panoptic_ros.cli.main import main
from panoptic_ros.config import load_config
from panoptic_ros.data.coco_like import make_coco_like_dataset
from panoptic_ros.data.coco_panoptic import PanopticJson
from panoptic_ros.modeling import build_model, default_model_path, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if "error:" in line]


@pytest.mark.parametrize("argv, usage, hint", [
    (["eval", "--data", "d", "--out", "o", "--polcy", "all"], "usage: panoptic eval ", "did you mean --policy?"),
    (["predict", "--images", "d", "--out", "o", "--no-trakcing"], "usage: panoptic predict ",
     "did you mean --no-tracking?"),
    (["bag", "eval", "--bag", "b", "--out", "o", "--overwite"], "usage: panoptic bag eval ",
     "did you mean --overwrite?"),
    (["pq", "--gt-json", "g", "--pred-json", "p", "--engnie", "hotcoco"], "usage: panoptic pq ",
     "did you mean --engine?"),
])
def test_unknown_flag_shows_the_subcommands_usage_and_the_closest_flag(argv, usage, hint, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert err.startswith(usage) and "usage: panoptic [-h]" not in err, err
    assert "unrecognized arguments" in err and hint in err, err


def test_data_folder_says_what_it_must_hold(synthetic_dataset, tmp_path, capsys):
    assert main(["eval", "--data", str(synthetic_dataset / "images"), "--out", str(tmp_path / "o")]) == 2
    (line,) = error_lines(capsys)
    assert "panoptic.json, images/ and panoptic/" in line and f"did you mean --data {synthetic_dataset}?" in line
    assert main(["eval", "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    (line,) = error_lines(capsys)
    assert "no panoptic.json there" in line and "panoptic synth" in line


def test_sidecar_json_as_model_points_at_the_safetensors(synthetic_dataset, tmp_path, capsys):
    sidecar = default_model_path().with_suffix(".json")
    for argv in (["eval", "--data", str(synthetic_dataset)],
                 ["predict", "--images", str(synthetic_dataset / "images")],
                 ["export", "--format", "onnx"], ["demo"]):
        assert main([*argv, "--out", str(tmp_path / "o"), "--model", str(sidecar)]) == 2
        (line,) = error_lines(capsys)
        assert f"give {default_model_path()}" in line and "sidecar" in line


def test_class_mismatch_is_one_short_line(tmp_path, capsys):
    """The shipped model (8 synthetic classes) on a COCO-like folder (COCO panoptic ids): counts and a few names,
    not every id."""
    data = make_coco_like_dataset(tmp_path / "coco", 1, width=64, height=48, segments=4)
    assert main(["eval", "--data", str(data), "--out", str(tmp_path / "o"), "--runtime", "torch"]) == 2
    (line,) = error_lines(capsys)
    n = len(json.loads((data / "panoptic.json").read_text())["categories"])
    assert f"the model knows 8 classes, the dataset has {n}" in line and "docs/recipes.md" in line
    assert "more" in line and len(line) < 600, line


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("bag")
    assert main(["bag", "make-sample", "--out", str(root / "s"), "--frames", "2", "--width", "96", "--height", "64",
                 "--seed", "3"]) == 0
    cfg = load_config(ROOT / "panoptic_ros" / "configs" / "smoke.yaml")
    cats = PanopticJson.load(root / "s" / "gt" / "panoptic.json").categories
    model = save_checkpoint(root / "tiny.safetensors", build_model(cfg, cats), cfg, cats)
    return root / "s", model


def test_bag_eval_table_overwrite_and_no_progress(sample, tmp_path, capsys):
    bag, model = sample
    out = tmp_path / "o"
    argv = ["bag", "eval", "--bag", str(bag / "sample_bag"), "--gt", str(bag / "gt"), "--out", str(out), "--model",
            str(model), "--runtime", "torch", "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr()
    lines = printed.out.strip().splitlines()
    assert lines[0] == "=== bag eval: complete ===" and len(lines) <= 12, printed.out
    assert any(line.startswith("All") and "PQ" in line for line in lines) and "{" not in printed.out
    assert "bag eval:" not in printed.err   # no progress bar
    report = json.loads((out / "report.json").read_text())
    assert len(report["per_frame"]) == 2 and "per_class" in report["pq"]   # the full JSON stays in the file
    (out / "mine.txt").write_text("kept")
    assert main(argv) == 2
    (line,) = error_lines(capsys)
    assert "output_bag exists already" in line and "--overwrite" in line
    assert main([*argv, "--overwrite"]) == 0
    assert (out / "mine.txt").read_text() == "kept" and json.loads((out / "report.json").read_text())["frames"] == 2


def test_the_shipped_model_says_what_it_knows_once(caplog):
    """Item 12: a command running the shipped model says it only knows the 8 synthetic classes and where real classes
    come from; another model does not get the note."""
    import logging

    from panoptic_ros.cli.main import build_parser
    from panoptic_ros.cli.options import pipeline_from_args

    args = build_parser().parse_args(["predict", "--images", "x", "--out", "y", "--runtime", "torch"])
    with caplog.at_level(logging.INFO, logger="panoptic_ros.cli.options"):
        pipeline, _ = pipeline_from_args(args)
    notes = [r.getMessage() for r in caplog.records if "shipped model only knows" in r.getMessage()]
    assert len(notes) == 1 and "8 synthetic classes" in notes[0] and "docs/recipes.md" in notes[0]
    assert all(c.name in notes[0] for c in pipeline.categories.categories)
    from panoptic_ros.modeling.shipped import is_shipped_model
    assert is_shipped_model(None) and is_shipped_model(str(default_model_path()))
    assert not is_shipped_model(ROOT / "test" / "modeling" / "data" / "research_model.safetensors")


@pytest.mark.parametrize("argv, hint", [
    (["evl"], "did you mean eval?"),
    (["bag", "evl"], "did you mean eval?"),
    (["eval", "--data", "d", "--out", "o", "--policy", "closest_centre"], "did you mean closest_center?"),
])
def test_mistyped_command_or_choice_suggests_the_closest(argv, hint, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "invalid choice" in err and hint in err, err
