"""The pipeline's stages one at a time: input preparation, detection decoding, mapping to the fuse grid, merge."""
import copy

import numpy as np
import pytest
import torch

from panoptic_ros.config import load_config
from panoptic_ros.data.categories import Category, CategoryMap
from panoptic_ros.modeling import build_model
from panoptic_ros.modeling import preprocess as pre
from panoptic_ros.pipeline import Detections, PanopticPipeline, decode_detections, input_limits, prepare_batch, timing
from panoptic_ros.pipeline.mapping import map_image
from panoptic_ros.pipeline.pipeline import restore_channels

CATEGORIES = CategoryMap([Category(1, "person", True), Category(3, "car", True), Category(7, "road", False),
                          Category(9, "sky", False)])


@pytest.fixture
def smoke_model():
    return build_model(load_config(None, ["model.fpn_channels=16", "model.branch_channels=16", "model.det_head_convs=0",
                                          "model.frozen_bn=false", "inference.input_size=128",
                                          "inference.max_input_size=192"]), CATEGORIES)


class FixedRuntime:
    """Returns given network outputs (what a runtime would)."""
    name, precision = "fixed", "fp32"

    def __init__(self, model, raw):
        self.cfg, self.categories, self.device, self.raw = model.cfg, model.categories, model.device, raw

    def __call__(self, images):
        return self.raw


def test_prepare_batch_resizes_normalises_and_pads(smoke_model):
    prepared = prepare_batch([np.full((60, 240, 3), 255, np.uint8)], smoke_model.cfg, smoke_model.cfg.inference,
                             torch.device("cpu"))
    # shorter side -> input_size 128, longer side capped at max_input_size 192: scale 0.8 -> 48 x 192
    assert prepared.input_sizes == [(48, 192)] and prepared.original_sizes == [(60, 240)]
    assert prepared.images.shape == (1, 3, 128, 256)
    white = (1 - torch.tensor(pre.IMAGENET_MEAN)) / torch.tensor(pre.IMAGENET_STD)
    assert torch.allclose(prepared.images[0, :, 10, 10], white, atol=1e-5)
    assert prepared.images[0, :, 100:, 200:].abs().max() == 0  # padding = the mean colour


def test_uint8_and_float_inputs_prepare_alike(smoke_model):
    rng = np.random.default_rng(0)
    image = (rng.random((96, 128, 3)) * 255).astype(np.uint8)
    image = np.kron(image[::8, ::8], np.ones((8, 8, 1))).astype(np.uint8)  # smooth: resamplers agree
    a = prepare_batch([image], smoke_model.cfg, smoke_model.cfg.inference, torch.device("cpu"))
    b = prepare_batch([torch.from_numpy(image).permute(2, 0, 1).float() / 255], smoke_model.cfg,
                      smoke_model.cfg.inference, torch.device("cpu"))
    assert a.input_sizes == b.input_sizes
    assert (a.images - b.images).abs().mean() < 0.05


def test_decode_returns_category_channels(smoke_model):
    cats = CategoryMap([Category(1, "road", False), Category(2, "car", True), Category(3, "sky", False),
                        Category(4, "person", True)])
    thing_channels = torch.nonzero(cats.thing_mask).flatten()
    assert thing_channels.tolist() == [1, 3]
    shapes = [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    raw = {"cls_logits": [torch.full((1, 2, *s), -10.0) for s in shapes],
           "box_regression": [torch.full((1, 4, *s), 4.0) for s in shapes],
           "centerness": [torch.full((1, 1, *s), 10.0) for s in shapes]}
    raw["cls_logits"][0][0, 1, 3, 3] = 10.0   # detection class 1 = "person" = channel 3
    (d,) = decode_detections(raw, [(128, 128)], smoke_model.cfg.inference, thing_channels)
    assert d.labels.tolist() == [3]
    assert d.boxes.tolist() == [[24.0, 24.0, 32.0, 32.0]]   # cell (3, 3) at stride 8: center (28, 28), ltrb 4


def test_image_grid_maps_boxes_offsets_and_logits_back_to_the_original_image(smoke_model):
    # original 64 x 96 image, network input 32 x 48 (scale 0.5), stride-4 maps 32 x 32 of a 128 x 128 batch
    semantic = torch.zeros(4, 32, 32)
    semantic[2] = 1.0                      # road everywhere
    semantic[0, 2:5, 2:6] = 5.0            # person on network-input pixels x 8..24, y 8..20
    offsets = torch.zeros(2, 32, 32)
    offsets[0], offsets[1] = 4.0, -2.0
    boxes = torch.tensor([[8.0, 8.0, 24.0, 20.0]])
    mapped = map_image(semantic, offsets, boxes, 4, (32, 48), (64, 96), "image")
    assert mapped.semantic.shape == (4, 64, 96) and mapped.grid_size == (64, 96)
    assert mapped.boxes.tolist() == [[16.0, 16.0, 48.0, 40.0]]
    assert torch.allclose(mapped.offsets[0], torch.tensor(8.0))
    assert torch.allclose(mapped.offsets[1], torch.tensor(-4.0))
    pipe = PanopticPipeline(FixedRuntime(smoke_model, {}))
    inf = copy.deepcopy(smoke_model.cfg.inference)
    inf.stuff_area_threshold = 0
    result = pipe.merge(mapped, Detections(boxes, torch.tensor([0.9]), torch.tensor([0])), "closest_center", inf)
    person = [s for s in result.segments if s["isthing"]]
    assert len(person) == 1 and person[0]["category_id"] == 0
    assert person[0]["bbox"] == [16, 16, 32, 24] and person[0]["area"] == 32 * 24


def test_output_grid_is_the_network_grid_and_results_come_back_at_image_size(smoke_model):
    semantic = torch.zeros(4, 32, 32)
    semantic[3] = 1.0
    semantic[0, 2:5, 2:6] = 5.0
    boxes = torch.tensor([[8.0, 8.0, 24.0, 20.0]])
    mapped = map_image(semantic, torch.zeros(2, 32, 32), boxes, 4, (32, 48), (64, 96), "output")
    assert mapped.grid_size == (8, 12) and mapped.boxes.tolist() == [[2.0, 2.0, 6.0, 5.0]]
    pipe = PanopticPipeline(FixedRuntime(smoke_model, {}))
    inf = copy.deepcopy(smoke_model.cfg.inference)
    inf.stuff_area_threshold = 0
    result = pipe.merge(mapped, Detections(boxes, torch.tensor([0.9]), torch.tensor([0])), "highest_confidence", inf)
    assert result.panoptic.shape == (64, 96)
    person = [s for s in result.segments if s["isthing"]]
    assert person[0]["bbox"] == [16, 16, 32, 24] and person[0]["area"] == 32 * 24


def test_restoring_a_channel_subset_gives_the_full_codes():
    from panoptic_ros.panoptic.fuse import OwnerMap

    thing_mask = torch.tensor([True, False, True, False, False])
    channels = torch.tensor([1, 2, 4])                     # subset: stuff 1, thing 2, stuff 4
    # subset codes: 0 unknown, 1..3 subset channels, 4.. detections
    raw = torch.tensor([[0, 1, 3, 4], [2, 5, 1, 0]], dtype=torch.int32)
    owner = OwnerMap(raw, thing_mask[channels], torch.tensor([0.5, 0.7], dtype=torch.float64), torch.tensor([1, 1]))
    full = restore_channels(owner, channels, thing_mask, torch.tensor([2, 2]))
    assert full.raw.tolist() == [[0, 2, 5, 6], [3, 7, 2, 0]]
    assert full.labels.tolist() == [2, 2] and torch.equal(full.thing_mask, thing_mask)


def test_input_size_zero_means_the_models_own_setting():
    """inference.input_size = 0 (the node's default) resolves to the checkpoint's setting, else data.min_size."""
    cfg = load_config(None, ["inference.input_size=96", "inference.max_input_size=160", "data.min_size=64",
                             "data.max_size=100"])
    request = load_config(None, []).inference            # input_size 0: the model's own
    assert input_limits(cfg, request) == (96, 160)
    request.input_size, request.max_input_size = 48, 80
    assert input_limits(cfg, request) == (48, 80)
    cfg.inference.input_size = cfg.inference.max_input_size = 0
    assert input_limits(cfg, load_config(None, []).inference) == (64, 100)


def test_stage_timer_laps_charge_the_time_since_the_last_lap(monkeypatch):
    clock = iter([10.0, 10.5, 11.25, 11.5, 12.0])
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    timer = timing.StageTimer()               # 10.0
    timer.lap("a")                            # 10.5: a 0.5
    timer.lap("b")                            # 11.25: b 0.75
    timer.lap("a")                            # 11.5: a + 0.25 (a stage lapped twice adds up)
    assert timer.seconds == {"a": 0.75, "b": 0.75}
    off = timing.StageTimer(enabled=False)    # 12.0 read once, then never again
    off.lap("a")
    assert off.seconds == {}
