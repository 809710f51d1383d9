"""Encoder: every supported torchvision backbone gives c2..c5 at strides 4..32; frozen BN; ImageNet loading."""
import urllib.error

import pytest
import torch
import torchvision
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from panoptic_ros.config import BACKBONES
from panoptic_ros.modeling import backbone as bb


@pytest.mark.parametrize("name", BACKBONES)
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
    with pytest.raises(ValueError, match="unknown backbone 'vgg16'"):
        bb.build_backbone("vgg16")
