"""`panoptic bench release`: two model files timed side by side and evaluated on the same splits.

The shipped model against itself must give identical quality (same network, same data, deterministic pipeline), and
against a deliberately broken copy (semantic classifier negated) a clearly lower PQ: so the table really compares
the two files it names and does not, say, evaluate one model twice."""
import json
import shutil

import pytest
from safetensors.torch import load_file, save_file

from panoptic_ros.cli.main import main
from panoptic_ros.data.synth import make_synthetic_dataset
from panoptic_ros.modeling import default_model_path


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("release") / "val", 3, seed=11)


def _broken_copy(folder):
    """The shipped model with its semantic classifier negated (its stuff segmentation collapses)."""
    src = default_model_path()
    dst = folder / "broken.safetensors"
    state = load_file(str(src))
    keys = [k for k in state if k.endswith(("semantic.weight", "semantic.bias", "semantic_head.predictor.weight",
                                            "semantic_head.predictor.bias"))]
    assert keys, "no semantic classifier tensor found in the shipped model"
    for k in keys:
        state[k] = -state[k]
    save_file(state, str(dst))
    shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def _run(tmp_path, baseline, split):
    argv = ["bench", "release", "--baseline", str(baseline), "--sizes", "160x120", "--repeats", "2", "--warmup", "0",
            "--runtime", "torch", "--precision", "fp32", "--data", str(split), "--out", str(tmp_path)]
    assert main(argv) == 0
    return json.loads((tmp_path / "release.json").read_text())


def test_release_benchmark_compares_two_files_side_by_side(tmp_path, split):
    result = _run(tmp_path / "same", default_model_path(), split)
    assert (tmp_path / "same" / "release.png").stat().st_size > 1000
    assert result["cpu"]["model"] and "avx2" in result["cpu"]["flags"]
    (row,) = result["speed"]
    assert (row["width"], row["height"]) == (160, 120)
    for name in ("baseline", "model"):
        assert row[name]["total_ms"] > 0 and set(row[name]["stages_ms"]) >= {"preprocess", "network", "merge"}
    assert row["speedup"] == pytest.approx(row["baseline"]["total_ms"] / row["model"]["total_ms"])
    quality = result["accuracy"]["val"]
    assert quality["baseline"] == {**quality["model"], "eval_fps": quality["baseline"]["eval_fps"]}
    assert quality["model"]["images"] == 3 and 0 < quality["model"]["PQ"] <= 100

    broken = _run(tmp_path / "broken", _broken_copy(tmp_path), split)["accuracy"]["val"]
    assert broken["model"]["PQ"] == pytest.approx(quality["model"]["PQ"])   # the model under test is unchanged
    assert broken["baseline"]["PQ"] < broken["model"]["PQ"] - 10
