"""PanopticModel: training losses and their gradients, input checks, build_pipeline(model) end to end and its mapping
back to the original image resolution."""
import numpy as np
import pytest
import torch

from panoptic_ros.config import PanopticConfig
from panoptic_ros.modeling import PanopticModel, build_model, resolve_device
from panoptic_ros.modeling import preprocess as pre
from panoptic_ros.panoptic import PanopticResult
from panoptic_ros.pipeline import build_pipeline, prepare_batch


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
    results = build_pipeline(model, runtime="torch", device="cpu").predict(images)
    assert len(results) == 2 and all(isinstance(r, PanopticResult) for r in results)
    assert results[0].panoptic.shape == (70, 90) and results[1].panoptic.shape == (50, 161)
    assert results[0].panoptic.dtype == torch.int32
    for r in results:
        ids = {s["id"] for s in r.segments}
        assert set(torch.unique(r.panoptic).tolist()) - {0} <= ids
        assert all(0 <= s["category_id"] < 4 for s in r.segments)


def test_predict_rejects_bad_images(model):
    pipeline = build_pipeline(model, runtime="torch", device="cpu")
    with pytest.raises(TypeError, match="list of images"):
        pipeline.predict(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError, match="image 1: expected an HxWx3"):
        pipeline.predict([np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10), np.uint8)])
    with pytest.raises(ValueError, match="image 0: float pixels must be in 0..1"):
        pipeline.predict([torch.full((3, 8, 8), 255.0)])


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
    prepared = prepare_batch([images[1]], model.cfg, model.cfg.inference, model.device)
    assert all(s % divisibility == 0 for s in prepared.images.shape[-2:])
    (result,) = build_pipeline(model, runtime="torch", device="cpu").predict([np.zeros((37, 53, 3), np.uint8)])
    assert result.panoptic.shape == (37, 53)
