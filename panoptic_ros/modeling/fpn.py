"""The decoder: torchvision FeaturePyramidNetwork over c2..c5 plus P6/P7 (from P5) -> p2..p7."""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

PYRAMID_NAMES = ("p2", "p3", "p4", "p5", "p6", "p7")
PYRAMID_STRIDES = (4, 8, 16, 32, 64, 128)


class FPN(nn.Module):
    """forward(OrderedDict c2..c5) -> OrderedDict p2..p7, all ``out_channels`` wide."""

    def __init__(self, in_channels_list: list[int], out_channels: int):
        super().__init__()
        self.out_channels = out_channels
        # P6/P7 computed from P5 (in == out channels), as FCOS does.
        self.fpn = FeaturePyramidNetwork(in_channels_list, out_channels,
                                         extra_blocks=LastLevelP6P7(out_channels, out_channels))

    def forward(self, features: "OrderedDict[str, torch.Tensor]") -> "OrderedDict[str, torch.Tensor]":
        out = self.fpn(features)
        return OrderedDict(zip(PYRAMID_NAMES, out.values()))
