"""Encoder: every built-in torchvision backbone gives c2..c5 at strides 4..32; frozen BN; ImageNet loading; a
backbone registered from this test module (not a torchvision model) builds a working model with no other edit."""
import urllib.error

import pytest
import torch
import torchvision
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from panoptic_ros.config import BACKBONES
from panoptic_ros.modeling import backbone as bb


def test_the_torchvision_families_are_registered():
    assert list(BACKBONES)[:5] == ["resnet18", "resnet34", "resnet50", "mobilenet_v3_large", "mobilenet_v3_small"]


@pytest.mark.parametrize("name", list(BACKBONES))
def test_feature_shapes_and_widths(name):
    net = bb.build_backbone(name, pretrained=False, frozen_bn=False)
    feats = net(torch.rand(1, 3, 64, 96))
    assert list(feats) == ["c2", "c3", "c4", "c5"]
    for (key, f), stride, width in zip(feats.items(), (4, 8, 16, 32), net.out_channels):
        assert f.shape == (1, width, 64 // stride, 96 // stride), key


def test_frozen_bn_replaces_batchnorm():
    frozen = bb.build_backbone("resnet18", frozen_bn=True, from_checkpoint=True)
    assert any(isinstance(m, FrozenBatchNorm2d) for m in frozen.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in frozen.modules())
    trainable = bb.build_backbone("mobilenet_v3_small", frozen_bn=False)
    assert not any(isinstance(m, FrozenBatchNorm2d) for m in trainable.modules())
    frozen_mb = bb.build_backbone("mobilenet_v3_small", frozen_bn=True, from_checkpoint=True)
    norms = [m for m in frozen_mb.modules() if isinstance(m, FrozenBatchNorm2d)]
    assert norms and all(m.eps == 0.001 for m in norms)


def test_frozen_bn_without_pretrained_weights_warns():
    with pytest.warns(UserWarning, match="frozen_bn=false"):
        bb.build_backbone("resnet18", pretrained=False, frozen_bn=True)


def test_imagenet_weights_are_loaded_through_torch_hub(monkeypatch):
    reference = torchvision.models.resnet18()  # plain BatchNorm: its state dict has num_batches_tracked too
    with torch.no_grad():
        reference.conv1.weight.fill_(0.125)
    calls = []

    def fake_load(url, **kwargs):
        calls.append(url)
        return reference.state_dict()

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_load)
    net = bb.build_backbone("resnet18", pretrained=True, frozen_bn=True)
    assert calls == [torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url]
    assert torch.all(net.body.conv1.weight == 0.125)


def test_missing_imagenet_weights_name_the_cache_file(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def offline(url, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(RuntimeError, match=r"resnet34.*torch hub cache.*checkpoints.*pretrained_backbone=false"):
        bb.build_backbone("resnet34", pretrained=True)


def test_unknown_backbone_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown backbone 'vgg16'; choose one of resnet18, resnet34"):
        bb.build_backbone("vgg16")


# ---------------------------------------------------------------------------------------- a plug-in backbone
class _ToyBody(nn.Module):
    """Four strided convolutions: c2..c5 at strides 4, 8, 16, 32 with widths 8, 12, 16, 20."""

    def __init__(self):
        super().__init__()
        widths = [3, 8, 12, 16, 20]
        self.stages = nn.ModuleList(nn.Conv2d(widths[i], widths[i + 1], 3, stride=4 if i == 0 else 2, padding=1)
                                    for i in range(4))

    def forward(self, x):
        out = {}
        for name, stage in zip(bb.FEATURE_NAMES, self.stages):
            x = stage(x)
            out[name] = x
        return out


def toy_backbone(pretrained: bool, frozen_bn: bool) -> bb.Backbone:
    return bb.Backbone(_ToyBody(), [8, 12, 16, 20])


@pytest.fixture
def toy():
    BACKBONES.register("toy_convs", toy_backbone)
    yield "toy_convs"
    BACKBONES.unregister("toy_convs")


def test_a_registered_backbone_builds_a_working_model(toy, smoke_cfg, categories):
    from panoptic_ros.config import set_value
    from panoptic_ros.modeling import build_model
    from panoptic_ros.pipeline import build_pipeline

    set_value(smoke_cfg, "model.backbone", toy)
    set_value(smoke_cfg, "inference.device", "cpu")
    model = build_model(smoke_cfg, categories).eval()
    assert isinstance(model.backbone.body, _ToyBody) and model.backbone.out_channels == [8, 12, 16, 20]
    pipeline = build_pipeline(model, runtime="torch", device="cpu")
    result = pipeline.predict([torch.randint(0, 255, (70, 90, 3), dtype=torch.uint8).numpy()])[0]
    assert result.panoptic.shape == (70, 90)


def test_a_registered_backbone_is_a_config_and_command_line_value(toy):
    from panoptic_ros.cli.main import build_parser
    from panoptic_ros.cli.options import config_from_args
    from panoptic_ros.config import ConfigError, PanopticConfig, set_value

    with pytest.raises(ConfigError, match="not one of"):
        set_value(PanopticConfig(), "model.backbone", "toy_other")
    cfg = config_from_args(build_parser().parse_args(["train", f"model.backbone={toy}"]))
    assert cfg.model.backbone == toy


def test_a_builder_must_return_a_backbone():
    BACKBONES.register("toy_wrong", lambda pretrained, frozen_bn: nn.Identity())
    try:
        with pytest.raises(TypeError, match="toy_wrong.*must return a Backbone"):
            bb.build_backbone("toy_wrong")
    finally:
        BACKBONES.unregister("toy_wrong")
