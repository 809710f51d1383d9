"""The mask-based policies in the pipeline: each runs with the heads it needs, a policy whose head the model or
runtime lacks is refused naming the head, and the optional outputs are computed only for the active policy."""
import numpy as np
import pytest
import torch

from panoptic_ros.config import load_config
from panoptic_ros.data.categories import Category, CategoryMap
from panoptic_ros.data.synth import render_scene
from panoptic_ros.modeling import build_model
from panoptic_ros.panoptic import MERGE_POLICIES, PolicyUnavailable
from panoptic_ros.pipeline import PanopticPipeline
from panoptic_ros.runtime.loading import load_runtime

CATEGORIES = CategoryMap([Category(1, "person", True, (220, 20, 60)), Category(3, "car", True, (0, 0, 142)),
                          Category(7, "road", False, (128, 64, 128)), Category(9, "sky", False, (70, 130, 180))])


def smoke_model(heads: bool, *extra: str):
    cfg = load_config(None, [*extra, "model.fpn_channels=16", "model.branch_channels=16", "model.det_head_convs=1",
                             "model.frozen_bn=false", "inference.input_size=96", "inference.max_input_size=128",
                             "inference.score_threshold=0.0", "inference.max_detections=8",
                             f"model.levelness={heads}", f"model.borderness={heads}", f"model.mask_head={heads}"])
    torch.manual_seed(0)
    return build_model(cfg, CATEGORIES).eval()


class RecordingRuntime:
    """The torch runtime, recording which optional outputs each network pass was asked for."""

    def __init__(self, runtime):
        self.inner, self.asked = runtime, []
        for name in ("name", "precision", "cfg", "categories", "device", "mask_logits", "optional_outputs"):
            setattr(self, name, getattr(runtime, name))

    def __call__(self, images, optional=()):
        self.asked.append(tuple(optional))
        return self.inner(images, optional=optional)


@pytest.fixture(scope="module")
def image():
    return render_scene(np.random.default_rng(1), 128, 96)[0]


def test_every_policy_runs_and_heads_run_only_for_their_policy(image):
    runtime = RecordingRuntime(load_runtime(smoke_model(True), runtime="torch", device="cpu", precision="fp32"))
    pipe = PanopticPipeline(runtime)
    asked = {}
    for policy in MERGE_POLICIES:
        result = pipe.run([image], policies=[policy], timed=False).results[policy][0]
        ids = sorted(int(i) for i in result.panoptic.unique() if i != 0)
        assert ids == [s["id"] for s in result.segments] and result.panoptic.shape == image.shape[:2]
        asked[policy] = runtime.asked[-1]
    assert asked["closest_center"] == asked["highest_confidence"] == asked["smallest_first"] == ()
    assert asked == {**asked, "dense_iou": ("levelness",), "paste_borderness": ("borderness",),
                     "mask_heuristic": ("features",)}
    run = pipe.run([image], policies=list(MERGE_POLICIES), timed=False)   # one pass, every head it needs
    assert runtime.asked[-1] == ("borderness", "features", "levelness") and len(run.results) == len(MERGE_POLICIES)


def test_a_policy_without_its_head_is_refused_naming_the_head(image):
    pipe = PanopticPipeline(load_runtime(smoke_model(False), runtime="torch", device="cpu", precision="fp32"))
    with pytest.raises(PolicyUnavailable, match=r"border-ness head \(model.borderness\)"):
        pipe.check_policy("paste_borderness")
    with pytest.raises(PolicyUnavailable, match=r"RoI mask head \(model.mask_head\)"):
        pipe.run([image], policies=["closest_center", "mask_heuristic"])
    assert pipe.check_policy("dense_iou").name == "dense_iou"   # falls back to the max IoU over levels
    assert isinstance(PolicyUnavailable("x"), ValueError)
    with pytest.raises(ValueError, match="not_a_policy"):
        pipe.check_policy("not_a_policy")


def test_exported_runtime_runs_every_policy_like_torch(image):
    model = smoke_model(True)
    pipe = PanopticPipeline(load_runtime(model, runtime="onnxruntime", device="cpu", precision="fp32"))
    assert pipe.runtime_outputs() == {"levelness", "borderness", "features"}
    reference = PanopticPipeline(load_runtime(model, runtime="torch", device="cpu", precision="fp32"))
    for policy in ("dense_iou", "paste_borderness", "mask_heuristic"):
        pipe.check_policy(policy)
        got = pipe.run([image], policies=[policy], timed=False).results[policy][0]
        want = reference.run([image], policies=[policy], timed=False).results[policy][0]
        assert (got.panoptic == want.panoptic).float().mean() > 0.99, policy


def test_stuff_threshold_as_a_fraction_of_the_image():
    from panoptic_ros.config import InferenceConfig
    from panoptic_ros.pipeline.pipeline import stuff_threshold

    assert stuff_threshold(InferenceConfig(stuff_area_fraction=1 / 256), (480, 640)) == 1200
    assert stuff_threshold(InferenceConfig(stuff_area_threshold=77), (480, 640)) == 77


def test_borderness_as_the_detection_quality(image):
    model = smoke_model(False, "model.quality=borderness")
    assert model.heads() == ("borderness",)
    runtime = RecordingRuntime(load_runtime(model, runtime="torch", device="cpu", precision="fp32"))
    pipe = PanopticPipeline(runtime)
    by_border = pipe.run([image], policies=["closest_center"], timed=False)
    assert runtime.asked[-1] == ("borderness",)
    by_center = pipe.run([image], inference=pipe.inference_with({"score_quality": "centerness"}),
                         policies=["closest_center"], timed=False)
    assert runtime.asked[-1] == ()
    assert not torch.equal(by_border.detections[0].scores, by_center.detections[0].scores)
    plain = PanopticPipeline(load_runtime(smoke_model(False), runtime="torch", device="cpu", precision="fp32"))
    with pytest.raises(PolicyUnavailable, match="borderness"):
        plain.run([image], inference=plain.inference_with({"score_quality": "borderness"}))
