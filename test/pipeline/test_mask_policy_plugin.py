"""A mask-based merge policy registered from outside (docs/extending.md, "A mask-based merge policy"): the
pipeline asks its optional outputs, builds its maps and merges them, and the oracle runs it, without knowing its
name; a subclass that leaves a step out fails naming the step."""
import numpy as np
import pytest
import torch

from panoptic_ros.config import InferenceConfig, load_config, set_value
from panoptic_ros.data.categories import Category, CategoryMap
from panoptic_ros.data.synth import render_scene
from panoptic_ros.evaluation.oracle import oracle_prediction
from panoptic_ros.modeling import build_model
from panoptic_ros.panoptic import MERGE_POLICIES
from panoptic_ros.panoptic.mask_merge import box_masks, compose, first_true, score_order, stuff_fallback
from panoptic_ros.panoptic.policies import BatchOutputs, MaskMergePolicy
from panoptic_ros.pipeline import build_pipeline

CATEGORIES = CategoryMap([Category(1, "disc", True, (220, 20, 60)), Category(7, "road", False, (128, 64, 128))])
SEEN_OUTPUTS: list[set] = []   # the raw outputs each detection_maps call received


class BoxMasks(MaskMergePolicy):
    """Toy: each detection's mask is its whole box; a pixel goes to the best-scoring box holding it."""

    name = "toy_box_masks"
    optional_outputs = ("levelness",)   # asked for only to show the request reaches the runtime

    def detection_maps(self, batch: BatchOutputs):
        SEEN_OUTPUTS.append(set(batch.raw))
        return [box_masks(m.boxes, *m.grid_size).float() for m in batch.mapped]

    def owner_map(self, mapped, scores, labels, thing_mask, inference, maps):
        background, is_thing = stuff_fallback(mapped.semantic, thing_mask)
        if len(scores) == 0:
            return background.masked_fill(is_thing, 0)
        order = score_order(scores)
        first, has = first_true(maps[order] > 0.5)
        return compose(order[first], has, background.masked_fill(is_thing, 0), mapped.semantic.shape[0])

    def oracle_maps(self, instance_map, boxes):
        return box_masks(boxes, *instance_map.shape).float()


class Incomplete(MaskMergePolicy):
    name = "toy_incomplete"


@pytest.fixture
def toy():
    MERGE_POLICIES.register(obj=BoxMasks)
    MERGE_POLICIES.register(obj=Incomplete)
    yield BoxMasks.name
    MERGE_POLICIES.unregister(BoxMasks.name)
    MERGE_POLICIES.unregister(Incomplete.name)


def test_the_pipeline_runs_a_registered_mask_policy(toy):
    cfg = load_config(None, ["model.fpn_channels=16", "model.branch_channels=16", "model.det_head_convs=1",
                             "model.frozen_bn=false", "model.levelness=true", "inference.input_size=96",
                             "inference.max_input_size=128", "inference.score_threshold=0.0",
                             "inference.max_detections=8"])
    set_value(cfg, "inference.merge_policy", toy)          # a config value like the built-in names
    torch.manual_seed(0)
    pipeline = build_pipeline(build_model(cfg, CATEGORIES).eval(), runtime="torch", device="cpu")
    image = render_scene(np.random.default_rng(1), 128, 96)[0]
    run = pipeline.run([image], timed=False)
    result = run.results[toy][0]
    assert "levelness" in SEEN_OUTPUTS[-1]                  # its optional output was asked of the runtime
    assert len(run.detections[0].scores) > 0 and result.panoptic.shape == image.shape[:2]
    things = [s for s in result.segments if s["isthing"]]
    assert things and all(s["category_id"] == 0 for s in things)
    with pytest.raises(NotImplementedError, match="toy_incomplete: detection_maps"):
        pipeline.run([image], policies=["toy_incomplete"], timed=False)


def test_the_oracle_runs_a_registered_mask_policy(toy):
    pan = np.full((64, 64), 3, dtype=np.int64)
    pan[10:40, 10:40] = 1
    pan[25:55, 25:55] = 2
    segments = [{"id": 1, "category_id": 1, "iscrowd": 0}, {"id": 2, "category_id": 1, "iscrowd": 0},
                {"id": 3, "category_id": 7, "iscrowd": 0}]
    result = oracle_prediction(pan, segments, CATEGORIES, [toy], InferenceConfig(stuff_area_threshold=0)).results[toy]
    sizes = sorted(s["area"] for s in result.segments if s["isthing"])
    assert sizes == [30 * 30 - 15 * 15, 30 * 30]   # equal scores: the first box keeps the shared square
    with pytest.raises(NotImplementedError, match="toy_incomplete: oracle_maps"):
        oracle_prediction(pan, segments, CATEGORIES, ["toy_incomplete"], InferenceConfig())
