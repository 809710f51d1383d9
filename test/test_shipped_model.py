"""The shipped model (panoptic_ros/weights/default.safetensors) as users get it: it loads, it segments unseen
synthetic scenes at the quality it was released with, and its sidecar says it was trained with
configs/synth_default.yaml.

The quality floors sit just under what the model measures on N_IMAGES unseen scenes (fixed seed): the scenes are
fixed, so the margin only has to absorb float rounding between CPUs and torch builds (PQ moved < 0.1 between the
runtimes' fp32 paths), not sampling noise. A model whose weights carry 20 % relative noise (or a retrain that lost
quality) falls below them; test_the_floor_catches_a_noisy_model shows it.

The comparison with the YAML is generic (every value the YAML sets must be the checkpoint's, and the whole
architecture section must equal what the YAML builds), so retraining with a changed YAML keeps this test valid;
a stale model next to an edited YAML, or a YAML edited after training, fails it.
"""
import json
from pathlib import Path

import pytest
import yaml

import panoptic_ros
from panoptic_ros.config import load_config
from panoptic_ros.modeling import default_model_path, load_checkpoint, read_sidecar
from panoptic_ros.modeling.checkpoint import sidecar_config

PACKAGE = Path(panoptic_ros.__file__).resolve().parent
YAML = PACKAGE / "configs" / "synth_default.yaml"
# set by tools/train_default_model.sh from its environment (DATA, OUT), not by the YAML
RUN_PATHS = {("data", "train"), ("data", "val"), ("solver", "output_dir")}
N_IMAGES = 20
# measured on these 20 scenes (torch fp32, closest_center, AMD EPYC AVX2): PQ 0.800, things 0.637, stuff 0.963.
# With 5 % relative weight noise: 0.785 / 0.610 / 0.959; 10 %: 0.751 / 0.555 / 0.947; 20 %: 0.578 / 0.250 / 0.906.
PQ_FLOOR = 0.785
PQ_THINGS_FLOOR = 0.615
PQ_STUFF_FLOOR = 0.955


def test_the_shipped_model_file_and_sidecar_exist():
    path = default_model_path()
    assert path == PACKAGE / "weights" / "default.safetensors"
    assert path.is_file() and path.stat().st_size > 1_000_000
    side = read_sidecar(path)
    assert len(side["categories"]) >= 2


def test_sidecar_matches_synth_default_yaml():
    side = read_sidecar(default_model_path())
    stored = sidecar_config(side, "default.json")
    expected = load_config(YAML)
    set_in_yaml = yaml.safe_load(YAML.read_text())
    compared = 0
    for section, values in set_in_yaml.items():
        for name in values:
            if (section, name) in RUN_PATHS:
                continue
            got, want = getattr(getattr(stored, section), name), getattr(getattr(expected, section), name)
            assert got == want, f"{section}.{name}: checkpoint {got!r}, {YAML.name} {want!r}"
            compared += 1
    assert compared >= 10
    # the architecture is the YAML's values plus schema defaults: all of it must be what the YAML builds
    assert stored.model == expected.model


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """Unseen synthetic 640x480 scenes (the model's training and validation data used seeds 1-3)."""
    from panoptic_ros.data.synth import make_synthetic_dataset

    return make_synthetic_dataset(tmp_path_factory.mktemp("shipped") / "scenes", N_IMAGES, seed=20261201)


def test_shipped_model_segments_unseen_scenes_above_a_pq_floor(scenes, tmp_path):
    from panoptic_ros.engine.dataset_eval import evaluate_model
    from panoptic_ros.pipeline import build_pipeline

    model = load_checkpoint(default_model_path())   # the strict loader: every tensor present and shaped right
    assert json.loads(json.dumps(model.categories.to_list())) == read_sidecar(default_model_path())["categories"]
    pipeline = build_pipeline(default_model_path(), device="cpu", runtime="torch")   # as `panoptic predict`
    result = evaluate_model(pipeline, scenes, warmup=0, write_predictions=False, progress=False)
    pq = next(iter(result.values()))["pq"]
    (tmp_path / "pq.json").write_text(json.dumps(pq))
    assert pq["All"]["pq"] >= PQ_FLOOR, pq["All"]
    assert pq["Things"]["pq"] >= PQ_THINGS_FLOOR, pq["Things"]
    assert pq["Stuff"]["pq"] >= PQ_STUFF_FLOOR, pq["Stuff"]


def _evaluate(model, scenes) -> dict:
    from panoptic_ros.engine.dataset_eval import evaluate_model
    from panoptic_ros.pipeline import build_pipeline

    result = evaluate_model(build_pipeline(model, device="cpu", runtime="torch"), scenes, warmup=0,
                            write_predictions=False, progress=False)
    return next(iter(result.values()))["pq"]


def test_the_floor_catches_a_noisy_model(scenes):
    """The floors can fail: the shipped weights with 20 % relative Gaussian noise fall below them."""
    import torch

    model = load_checkpoint(default_model_path())
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.mul_(1 + 0.2 * torch.randn(tensor.shape, generator=generator))
    pq = _evaluate(model, scenes)
    assert (pq["All"]["pq"] < PQ_FLOOR or pq["Things"]["pq"] < PQ_THINGS_FLOOR
            or pq["Stuff"]["pq"] < PQ_STUFF_FLOOR), pq["All"]


def test_the_floor_catches_a_broken_semantic_branch(scenes):
    """The semantic classifier negated: the stuff segmentation collapses far below the floor."""
    import torch

    model = load_checkpoint(default_model_path())
    classifier = model.decoder.semantic if model.layout == "fast" else model.semantic_head.predictor
    with torch.no_grad():
        classifier.weight.mul_(-1.0)
    assert _evaluate(model, scenes)["All"]["pq"] < PQ_FLOOR
