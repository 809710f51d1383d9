"""The encoder: a registered backbone returning c2..c5 (strides 4, 8, 16, 32); torchvision ResNet and MobileNetV3
are built in.

Each family registers one builder per name in ``BACKBONES`` (panoptic_ros.registry): ``builder(pretrained,
frozen_bn) -> Backbone``. A network torchvision does not ship (a timm model, a test's toy module) is added the
same way, from any module, with no list to edit (docs/extending.md).

BatchNorm is frozen (FrozenBatchNorm2d) by default, as the research does: detection batches are too
small for batch statistics, so the encoder keeps the statistics it was pretrained with.
"""
from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.ops import FrozenBatchNorm2d

from ..registry import BACKBONES

FEATURE_NAMES = ("c2", "c3", "c4", "c5")
FEATURE_STRIDES = (4, 8, 16, 32)


def imagenet_weights(name: str):
    """The torchvision ImageNet weights enum entry of model ``name`` (IMAGENET1K_V1, the classic one)."""
    return torchvision.models.get_model_weights(name).IMAGENET1K_V1


def load_imagenet_state_dict(name: str) -> dict[str, torch.Tensor]:
    """ImageNet weights from the torch hub cache (downloaded there when the network allows).

    Raises RuntimeError naming the expected cache file when it is absent and cannot be downloaded.
    """
    weights = imagenet_weights(name)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    try:
        return torch.hub.load_state_dict_from_url(weights.url, progress=True, check_hash=True,
                                                  weights_only=True)
    except Exception as exc:  # URLError, socket errors, hash mismatch, ...
        raise RuntimeError(
            f"ImageNet weights for {name} are not in the torch hub cache ({cached}) and could not be "
            f"downloaded ({type(exc).__name__}: {exc}). Copy {Path(weights.url).name} from {weights.url} "
            f"to {cached.parent}/, or set model.pretrained_backbone=false.") from exc


class Backbone(nn.Module):
    """Runs the encoder stages; forward(x) -> OrderedDict c2..c5. ``out_channels`` lists their widths."""

    def __init__(self, body: nn.Module, out_channels: list[int]):
        super().__init__()
        self.body = body
        self.out_channels = list(out_channels)
        self.strides = list(FEATURE_STRIDES)

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        return self.body(x)


class _StagedFeatures(nn.Module):
    """MobileNetV3 ``features`` cut after the last block of each stride (4, 8, 16, 32)."""

    def __init__(self, features: nn.Sequential, ends: list[int]):
        super().__init__()
        starts = [0] + [e + 1 for e in ends[:-1]]
        self.stages = nn.ModuleList(features[s:e + 1] for s, e in zip(starts, ends))

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        out = OrderedDict()
        for name, stage in zip(FEATURE_NAMES, self.stages):
            x = stage(x)
            out[name] = x
        return out


def _stage_ends(features: nn.Sequential) -> tuple[list[int], list[int]]:
    """Index of the last block at each stride 4/8/16/32 and its width, found with one tiny forward pass."""
    size = 64
    ends: dict[int, int] = {}
    widths: dict[int, int] = {}
    was_training = features.training
    features.eval()
    with torch.no_grad():
        x = torch.zeros(1, 3, size, size)
        for i, layer in enumerate(features):
            x = layer(x)
            stride = size // x.shape[-1]
            ends[stride], widths[stride] = i, x.shape[1]
    features.train(was_training)
    return [ends[s] for s in FEATURE_STRIDES], [widths[s] for s in FEATURE_STRIDES]


BackboneBuilder = Callable[..., Backbone]  # builder(pretrained: bool, frozen_bn: bool) -> Backbone


def build_backbone(name: str, pretrained: bool = False, frozen_bn: bool = True, *,
                   from_checkpoint: bool = False) -> Backbone:
    """Build the registered encoder ``name``; ImageNet weights when ``pretrained``.

    from_checkpoint: the weights will be loaded from a model checkpoint right after, so skip ImageNet.
    """
    builder: BackboneBuilder = BACKBONES.get(name)  # ValueError listing the registered names
    net = builder(pretrained=pretrained and not from_checkpoint, frozen_bn=frozen_bn)
    if not isinstance(net, Backbone) or len(net.out_channels) != len(FEATURE_NAMES):
        raise TypeError(f"backbone {name!r}: its builder must return a Backbone with {len(FEATURE_NAMES)} "
                        f"out_channels (c2..c5), got {type(net).__name__}")
    if not pretrained and not from_checkpoint and any(isinstance(m, FrozenBatchNorm2d) for m in net.modules()):
        warnings.warn(f"{name}: frozen BatchNorm without pretrained weights leaves the encoder unnormalised "
                      "(identity BN); train from scratch with model.frozen_bn=false", stacklevel=2)
    return net


def build_resnet(name: str, pretrained: bool, frozen_bn: bool) -> Backbone:
    """torchvision ResNet ``name``: c2..c5 = layer1..layer4."""
    norm = FrozenBatchNorm2d if frozen_bn else nn.BatchNorm2d
    net = getattr(torchvision.models, name)(weights=None, norm_layer=norm)
    if pretrained:
        net.load_state_dict(load_imagenet_state_dict(name))
    expansion = net.layer1[0].expansion  # 1 (BasicBlock: resnet18/34) or 4 (Bottleneck: resnet50)
    widths = [64 * expansion * 2**i for i in range(4)]
    body = IntermediateLayerGetter(net, {f"layer{i + 1}": c for i, c in enumerate(FEATURE_NAMES)})
    return Backbone(body, widths)


def build_mobilenet_v3(name: str, pretrained: bool, frozen_bn: bool) -> Backbone:
    """torchvision MobileNetV3 ``name``: ``features`` cut after the last block of each stride."""
    # MobileNetV3 uses eps=0.001 in its BatchNorm; keep it when freezing.
    norm = (partial(FrozenBatchNorm2d, eps=0.001) if frozen_bn
            else partial(nn.BatchNorm2d, eps=0.001, momentum=0.01))
    net = getattr(torchvision.models, name)(weights=None, norm_layer=norm)
    if pretrained:
        net.load_state_dict(load_imagenet_state_dict(name))
    ends, widths = _stage_ends(net.features)
    return Backbone(_StagedFeatures(net.features, ends), widths)


for _name in ("resnet18", "resnet34", "resnet50"):
    BACKBONES.register(_name, partial(build_resnet, _name))
for _name in ("mobilenet_v3_large", "mobilenet_v3_small"):
    BACKBONES.register(_name, partial(build_mobilenet_v3, _name))
