"""The encoder: a torchvision ResNet or MobileNetV3 returning c2..c5 (strides 4, 8, 16, 32).

BatchNorm is frozen (FrozenBatchNorm2d) by default, as the research does: detection batches are too
small for batch statistics, so the encoder keeps the statistics it was pretrained with.
"""
from __future__ import annotations

from collections import OrderedDict
from functools import partial
from pathlib import Path

import warnings

import torch
import torchvision
from torch import nn
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.ops import FrozenBatchNorm2d

FEATURE_NAMES = ("c2", "c3", "c4", "c5")
FEATURE_STRIDES = (4, 8, 16, 32)

_WEIGHTS = {
    "resnet18": "ResNet18_Weights",
    "resnet34": "ResNet34_Weights",
    "resnet50": "ResNet50_Weights",
    "mobilenet_v3_large": "MobileNet_V3_Large_Weights",
    "mobilenet_v3_small": "MobileNet_V3_Small_Weights",
}


def imagenet_weights(name: str):
    """The torchvision ImageNet weights enum entry used for ``name`` (IMAGENET1K_V1, the classic one)."""
    return getattr(torchvision.models, _WEIGHTS[name]).IMAGENET1K_V1


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

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        return self.body(x)


class _StagedFeatures(nn.Module):
    """MobileNetV3 ``features`` cut after the last block of each stride (4, 8, 16, 32)."""

    def __init__(self, features: nn.Sequential, ends: list[int]):
        super().__init__()
        starts = [0] + [e + 1 for e in ends[:-1]]
        self.stages = nn.ModuleList(features[s:e + 1] for s, e in zip(starts, ends))

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
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


def build_backbone(name: str, pretrained: bool = False, frozen_bn: bool = True, *,
                   from_checkpoint: bool = False) -> Backbone:
    """Build the encoder ``name`` (see config BACKBONES); ImageNet weights when ``pretrained``.

    from_checkpoint: the weights will be loaded from a model checkpoint right after, so skip ImageNet.
    """
    if name not in _WEIGHTS:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(_WEIGHTS)}")
    builder = getattr(torchvision.models, name)
    if name.startswith("resnet"):
        norm = FrozenBatchNorm2d if frozen_bn else nn.BatchNorm2d
        net = builder(weights=None, norm_layer=norm)
    else:
        # MobileNetV3 uses eps=0.001 in its BatchNorm; keep it when freezing.
        norm = partial(FrozenBatchNorm2d, eps=0.001) if frozen_bn else partial(nn.BatchNorm2d, eps=0.001,
                                                                               momentum=0.01)
        net = builder(weights=None, norm_layer=norm)
    if pretrained and not from_checkpoint:
        net.load_state_dict(load_imagenet_state_dict(name))
    elif frozen_bn and not from_checkpoint:
        warnings.warn(f"{name}: frozen BatchNorm without pretrained weights leaves the encoder unnormalised "
                      "(identity BN); train from scratch with model.frozen_bn=false", stacklevel=2)

    if name.startswith("resnet"):
        body = IntermediateLayerGetter(net, {"layer1": "c2", "layer2": "c3", "layer3": "c4", "layer4": "c5"})
        expansion = 4 if name == "resnet50" else 1
        widths = [64 * expansion, 128 * expansion, 256 * expansion, 512 * expansion]
    else:
        ends, widths = _stage_ends(net.features)
        body = _StagedFeatures(net.features, ends)
    return Backbone(body, widths)
