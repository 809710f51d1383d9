"""Sequence evaluation: PQ, STQ with / without tracking, ID switches, tracker cost; `panoptic eval` on a sequence."""
import json

import pytest

from panoptic_ros.cli.main import main
from panoptic_ros.data.synth import make_synthetic_dataset, make_synthetic_sequence
from panoptic_ros.engine.sequence_eval import evaluate_sequences, is_sequence_dataset, sequence_frames


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    return make_synthetic_sequence(tmp_path_factory.mktemp("seq") / "s", 8, seed=23, width=256, height=192, pan=6)


@pytest.fixture(scope="module")
def pipeline():
    from panoptic_ros.pipeline import build_pipeline
    return build_pipeline(None, runtime="torch", device="cpu")   # the shipped model, reference runtime


def test_sequence_folders_are_recognised(sequence, tmp_path):
    assert is_sequence_dataset(sequence)
    assert not is_sequence_dataset(make_synthetic_dataset(tmp_path / "still", 1, width=64, height=48))
    assert not is_sequence_dataset(tmp_path / "missing")


def test_frames_are_ordered_by_video_and_frame_index(sequence, tmp_path):
    from panoptic_ros.data import CocoPanopticDataset

    data = json.loads((sequence / "panoptic.json").read_text())
    data["images"] = data["images"][::-1]          # file order must not matter
    data["annotations"] = data["annotations"][::-1]
    (tmp_path / "s").mkdir()
    for sub in ("images", "panoptic"):
        (tmp_path / "s" / sub).symlink_to(sequence / sub)
    (tmp_path / "s" / "panoptic.json").write_text(json.dumps(data))
    frames = sequence_frames(CocoPanopticDataset(tmp_path / "s"))
    assert [stamp for _, stamp, _ in frames] == pytest.approx([i / 10 for i in range(8)])


def test_tracking_improves_association_and_is_cheap(sequence, pipeline, tmp_path):
    m = evaluate_sequences(pipeline, sequence, out_dir=tmp_path / "e", warmup=0, progress=False)
    tracked, raw = m["stq"]["tracking"], m["stq"]["no_tracking"]
    assert m["frames"] == 8 and m["videos"] == 1 and m["pq"]["All"]["pq"] > 0.5
    assert tracked["sq"] == pytest.approx(raw["sq"])          # same segmentation, other ids
    assert tracked["aq"] > raw["aq"] and tracked["stq"] > raw["stq"]
    assert tracked["id_keep"]["fraction"] >= 0.95 and tracked["id_keep"]["pairs"] >= 10
    assert tracked["id_switches"] < raw["id_switches"]
    assert 0 < m["tracker_share"] < 0.5
    written = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert written["stq"]["tracking"]["stq"] == pytest.approx(tracked["stq"])
    preds = json.loads((tmp_path / "e" / "predictions" / "panoptic.json").read_text())
    assert len(preds["annotations"]) == 8 and {i["video_id"] for i in preds["images"]} == {"synth-23"}


def test_eval_cli_on_a_sequence(sequence, tmp_path, capsys):
    """The CLI branch (a small untrained model: only the plumbing is checked here)."""
    from pathlib import Path

    from panoptic_ros.config import load_config
    from panoptic_ros.data import CocoPanopticDataset
    from panoptic_ros.modeling import build_model, save_checkpoint

    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "panoptic_ros" / "configs" / "smoke.yaml", ["inference.device=cpu"])
    model = build_model(cfg, CocoPanopticDataset(sequence).categories)
    ckpt = save_checkpoint(tmp_path / "model.safetensors", model, cfg, model.categories)
    out = tmp_path / "cli"
    assert main(["eval", "--data", str(sequence), "--out", str(out), "--runtime", "torch", "--model", str(ckpt),
                 "--no-tracking", "--max-images", "3", "--warmup", "0", "--no-progress", "--no-predictions"]) == 0
    text = capsys.readouterr().out
    assert "no tracking  STQ" in text and "\ntracking" not in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stq"]["tracking"] is None and metrics["frames"] == 3 and not metrics["tracking"]
    assert main(["eval", "--data", str(sequence), "--out", str(out), "--policy", "all"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--policy all is not supported on a sequence" in err[0]
