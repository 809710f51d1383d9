"""PanopticModel: training losses and their gradients, input checks, predict() end to end and its mapping
back to the original image resolution."""
import numpy as np
import pytest
import torch

import panoptic_ros.panoptic as panoptic_pkg
from panoptic_ros.config import PanopticConfig
from panoptic_ros.modeling import PanopticModel, build_model, resolve_device
from panoptic_ros.modeling import preprocess as pre
from panoptic_ros.panoptic import PanopticResult


@pytest.fixture
def model(smoke_cfg, categories):
    return build_model(smoke_cfg, categories)


def test_forward_returns_weighted_losses_and_every_branch_gets_gradients(model, scenes):
    images, targets = zip(*scenes)
    losses = model(list(images), list(targets))
    assert set(losses) == {"loss_cls", "loss_box", "loss_ctr", "loss_sem", "loss_offset", "loss"}
    assert all(torch.isfinite(v) for v in losses.values())
    lc = model.cfg.loss
    expected = (lc.lambda_o * (losses["loss_cls"] + losses["loss_box"] + losses["loss_ctr"])
                + lc.lambda_s * losses["loss_sem"] + lc.lambda_i * losses["loss_offset"])
    assert losses["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert losses["loss_offset"] > 1  # untrained: offsets of ~10-20 px are not predicted yet
    losses["loss"].backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, no_grad
    for part in ("backbone", "fpn", "semantic_head", "center_head", "detection_head"):
        assert sum(p.grad.abs().sum() for p in getattr(model, part).parameters()) > 0, part


def test_loss_weights_come_from_the_config(smoke_cfg, categories, scenes):
    smoke_cfg.loss.lambda_o, smoke_cfg.loss.lambda_s, smoke_cfg.loss.lambda_i = 0.0, 1.0, 0.0
    model = build_model(smoke_cfg, categories)
    images, targets = zip(*scenes)
    losses = model(list(images), list(targets))
    assert losses["loss"].item() == pytest.approx(losses["loss_sem"].item())


def test_target_problems_are_named(model, scenes):
    image, target = scenes[0]
    with pytest.raises(ValueError, match="target 0: missing key.*offset_weight"):
        model([image], [{k: v for k, v in target.items() if k != "offset_weight"}])
    with pytest.raises(ValueError, match="target 0: 'semantic' has shape"):
        model([image], [{**target, "semantic": target["semantic"][:10]}])
    with pytest.raises(ValueError, match="stuff categories.*road"):
        model([image], [{**target, "labels": torch.tensor([0, 2])}])
    with pytest.raises(ValueError, match="needs targets"):
        model([image])


def test_model_needs_a_thing_category(smoke_cfg):
    from panoptic_ros.data.categories import Category, CategoryMap
    with pytest.raises(ValueError, match="at least one thing"):
        build_model(smoke_cfg, CategoryMap([Category(1, "road", False)]))


def test_predict_any_size_returns_results_at_input_resolution(model):
    images = [np.random.randint(0, 256, (70, 90, 3), dtype=np.uint8), torch.rand(3, 50, 161)]
    model.train()
    results = model.predict(images)
    assert model.training  # mode restored
    assert len(results) == 2 and all(isinstance(r, PanopticResult) for r in results)
    assert results[0].panoptic.shape == (70, 90) and results[1].panoptic.shape == (50, 161)
    assert results[0].panoptic.dtype == torch.int32
    for r in results:
        ids = {s["id"] for s in r.segments}
        assert set(torch.unique(r.panoptic).tolist()) - {0} <= ids
        assert all(0 <= s["category_id"] < 4 for s in r.segments)


def test_predict_rejects_bad_images(model):
    with pytest.raises(TypeError, match="list of images"):
        model.predict(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError, match="image 1: expected an HxWx3"):
        model.predict([np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10), np.uint8)])
    with pytest.raises(ValueError, match="image 0: float pixels must be in 0..1"):
        model.predict([torch.full((3, 8, 8), 255.0)])


def test_prepare_inputs_resizes_normalises_and_pads(model):
    inf = model.cfg.inference
    prepared = model.prepare_inputs([np.full((60, 240, 3), 255, np.uint8)], inf)
    # shorter side -> input_size 128, longer side capped at max_input_size 192: scale 0.8 -> 48 x 192
    assert prepared.input_sizes == [(48, 192)] and prepared.original_sizes == [(60, 240)]
    assert prepared.images.shape == (1, 3, 128, 256)
    white = (1 - torch.tensor(pre.IMAGENET_MEAN)) / torch.tensor(pre.IMAGENET_STD)
    assert torch.allclose(prepared.images[0, :, 10, 10], white, atol=1e-5)
    assert prepared.images[0, :, 100:, 200:].abs().max() == 0  # padding = the mean colour


def test_stride4_map_is_mapped_exactly_to_the_original_grid():
    # a stride-4 map whose value is the network-input x (y) of each cell center: 4j + 2
    h4, w4 = 32, 32
    xs = (torch.arange(w4) * 4 + 2.0).view(1, 1, w4).expand(1, h4, w4)
    ys = (torch.arange(h4) * 4 + 2.0).view(1, h4, 1).expand(1, h4, w4)
    maps = torch.cat([xs, ys])
    out = pre.stride_to_image(maps, input_size=(40, 60), output_size=(100, 150))  # scale 0.4
    assert out.shape == (2, 100, 150)
    # bilinear interpolation of a linear ramp is exact: output pixel center (x + 0.5) * 0.4 in input px
    expect_x = (torch.arange(150) + 0.5) * 0.4
    expect_y = (torch.arange(100) + 0.5) * 0.4
    assert torch.allclose(out[0, 50, 10:140], expect_x[10:140], atol=1e-4)
    assert torch.allclose(out[1, 10:90, 70], expect_y[10:90], atol=1e-4)


def test_postprocess_maps_boxes_offsets_and_logits_back_to_the_original_image(model, monkeypatch):
    seen = {}
    real_fuse = panoptic_pkg.fuse

    def spy(semantic, boxes, scores, labels, **kw):
        seen.update(semantic=semantic, boxes=boxes, labels=labels, **kw)
        return real_fuse(semantic, boxes, scores, labels, **kw)

    monkeypatch.setattr(panoptic_pkg, "fuse", spy)
    # original 64 x 96 image, network input 32 x 48 (scale 0.5), padded batch 128 x 128 -> stride-4 maps 32 x 32
    prepared = type("P", (), {"input_sizes": [(32, 48)], "original_sizes": [(64, 96)]})()
    semantic = torch.zeros(1, 4, 32, 32)
    semantic[0, 2] = 1.0                      # road everywhere
    semantic[0, 0, 2:5, 2:6] = 5.0            # person on network-input pixels x 8..24, y 8..20
    offsets = torch.zeros(1, 2, 32, 32)
    offsets[0, 0], offsets[0, 1] = 4.0, -2.0
    raw = {"semantic": semantic, "offsets": offsets}
    dets = [{"boxes": torch.tensor([[8.0, 8.0, 24.0, 20.0]]), "scores": torch.tensor([0.9]),
             "labels": torch.tensor([0])}]
    (result,) = model.postprocess_panoptic(raw, dets, prepared, model.cfg.inference)
    assert seen["semantic"].shape == (4, 64, 96)
    assert seen["boxes"].tolist() == [[16.0, 16.0, 48.0, 40.0]]
    assert torch.allclose(seen["center_offsets"][0], torch.tensor(8.0))
    assert torch.allclose(seen["center_offsets"][1], torch.tensor(-4.0))
    assert seen["thing_mask"].tolist() == [True, True, False, False]
    assert seen["policy"] == model.cfg.inference.merge_policy
    person = [s for s in result.segments if s["isthing"]]
    assert len(person) == 1 and person[0]["category_id"] == 0
    assert person[0]["bbox"] == [16, 16, 32, 24] and person[0]["area"] == 32 * 24


def test_postprocess_detections_returns_category_channels(smoke_cfg):
    from panoptic_ros.data.categories import Category, CategoryMap
    cats = CategoryMap([Category(1, "road", False), Category(2, "car", True), Category(3, "sky", False),
                        Category(4, "person", True)])
    model = build_model(smoke_cfg, cats)
    assert model.thing_channels.tolist() == [1, 3]
    shapes = [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    raw = {"cls_logits": [torch.full((1, 2, *s), -10.0) for s in shapes],
           "box_regression": [torch.full((1, 4, *s), 4.0) for s in shapes],
           "centerness": [torch.full((1, 1, *s), 10.0) for s in shapes]}
    raw["cls_logits"][0][0, 1, 3, 3] = 10.0   # detection class 1 = "person" = channel 3
    (d,) = model.postprocess_detections(raw, [(128, 128)])
    assert d["labels"].tolist() == [3]


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_default_config_builds_the_research_model(categories):
    model = PanopticModel(PanopticConfig(), categories, from_checkpoint=True)
    assert model.fpn.out_channels == 256 and len(model.detection_head.cls_tower) == 4 * 3
    assert model.semantic_head.predictor.out_channels == 4 and model.detection_head.num_classes == 2


@pytest.mark.parametrize("backbone,divisibility", [("mobilenet_v3_small", 32), ("resnet18", 1)])
def test_other_encoders_and_paddings_train_and_predict(smoke_cfg, categories, scenes, backbone, divisibility):
    smoke_cfg.model.backbone = backbone
    smoke_cfg.model.size_divisibility = divisibility
    model = build_model(smoke_cfg, categories)
    images, targets = zip(*scenes)
    losses = model(list(images), list(targets))
    assert torch.isfinite(losses["loss"]) and losses["loss_box"] > 0
    losses["loss"].backward()
    assert model.detection_head.cls_logits.weight.grad.abs().sum() > 0
    prepared = model.prepare_inputs([images[1]])
    assert all(s % divisibility == 0 for s in prepared.images.shape[-2:])
    (result,) = model.predict([np.zeros((37, 53, 3), np.uint8)])
    assert result.panoptic.shape == (37, 53)


def test_input_size_zero_means_the_models_own_setting():
    """inference.input_size = 0 (the node's default) resolves to the checkpoint's setting, else data.min_size."""
    from panoptic_ros.config import load_config
    from panoptic_ros.data.categories import Category, CategoryMap
    from panoptic_ros.modeling import build_model
    cats = CategoryMap([Category(1, "sky", False), Category(2, "disc", True)])
    cfg = load_config(None, ["model.fpn_channels=16", "model.branch_channels=16", "model.det_head_convs=0",
                             "inference.input_size=96", "inference.max_input_size=160",
                             "data.min_size=64", "data.max_size=100"])
    model = build_model(cfg, cats)
    request = load_config(None, []).inference            # input_size 0: the model's own
    assert model.input_limits(request) == (96, 160)
    request.input_size, request.max_input_size = 48, 80
    assert model.input_limits(request) == (48, 80)
    model.cfg.inference.input_size = model.cfg.inference.max_input_size = 0
    assert model.input_limits(load_config(None, []).inference) == (64, 100)
