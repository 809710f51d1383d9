"""A ResNet-18 at reduced width: the shipped CPU model's encoder.

torchvision's ResNet fixes the widths of BasicBlock networks at 64-128-256-512. On a 2-core AVX2 CPU that encoder
alone is ~6.5 of the 7.8 GFLOP of the fast layout at 256x352; half the width is a quarter of the FLOPs (1.6 GFLOP),
with the same block structure (plain 3x3 convolutions with BatchNorm, which fold into the convolutions at inference
and quantize well to int8). The blocks are torchvision's own ``BasicBlock``.

Registered widths: ``resnet18_half`` (32-64-128-256) and ``resnet18_quarter`` (16-32-64-128). No ImageNet weights
exist for these widths: they train from scratch (``model.frozen_bn=false``).
"""
from __future__ import annotations

from collections import OrderedDict
from functools import partial

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock
from torchvision.ops import FrozenBatchNorm2d

from ..registry import BACKBONES
from .backbone import FEATURE_NAMES, Backbone

RESNET18_BLOCKS = (2, 2, 2, 2)
WIDTHS = {"resnet18_half": (32, 64, 128, 256), "resnet18_quarter": (16, 32, 64, 128)}


class SlimResNet(nn.Module):
    """ResNet stem (7x7/2 conv + 3x3/2 max pool) and four BasicBlock stages of the given widths -> c2..c5."""

    def __init__(self, widths: tuple[int, ...], blocks: tuple[int, ...] = RESNET18_BLOCKS,
                 norm_layer: type[nn.Module] = nn.BatchNorm2d):
        super().__init__()
        if len(widths) != len(FEATURE_NAMES) or len(blocks) != len(FEATURE_NAMES):
            raise ValueError(f"SlimResNet needs {len(FEATURE_NAMES)} widths and block counts, got {widths}, {blocks}")
        stem = widths[0]
        self.stem = nn.Sequential(nn.Conv2d(3, stem, 7, stride=2, padding=3, bias=False), norm_layer(stem),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1))
        stages, in_channels = [], stem
        for index, (width, count) in enumerate(zip(widths, blocks)):
            stride = 1 if index == 0 else 2
            downsample = None
            if stride != 1 or in_channels != width:
                downsample = nn.Sequential(nn.Conv2d(in_channels, width, 1, stride=stride, bias=False),
                                           norm_layer(width))
            layers = [BasicBlock(in_channels, width, stride, downsample, norm_layer=norm_layer)]
            layers += [BasicBlock(width, width, norm_layer=norm_layer) for _ in range(count - 1)]
            stages.append(nn.Sequential(*layers))
            in_channels = width
        self.stages = nn.ModuleList(stages)
        for m in self.modules():  # torchvision ResNet's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        x = self.stem(x)
        out = OrderedDict()
        for name, stage in zip(FEATURE_NAMES, self.stages):
            x = stage(x)
            out[name] = x
        return out


def build_slim_resnet(name: str, pretrained: bool, frozen_bn: bool) -> Backbone:
    """SlimResNet of the registered width ``name``; no ImageNet weights exist for it."""
    if pretrained:
        raise ValueError(f"backbone {name}: no ImageNet weights exist for this width; set "
                         "model.pretrained_backbone=false (it trains from scratch)")
    widths = WIDTHS[name]
    return Backbone(SlimResNet(widths, norm_layer=FrozenBatchNorm2d if frozen_bn else nn.BatchNorm2d), list(widths))


for _name in WIDTHS:
    BACKBONES.register(_name, partial(build_slim_resnet, _name))
