"""The decoder: torchvision FeaturePyramidNetwork plus P6/P7 (from P5), over c2..c5 or c3..c5.

The research layout builds p2..p7 from c2..c5. The fast layout starts at c3 (p3..p7, exactly the pyramid
of torchvision's FCOS): the stride-4 level is what made the research network slower than FCOS, because its
256-wide 3x3 smoothing conv on p2 alone costs about half as much as the whole detection head.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

PYRAMID_NAMES = ("p2", "p3", "p4", "p5", "p6", "p7")
PYRAMID_STRIDES = (4, 8, 16, 32, 64, 128)
FEATURE_NAMES = ("c2", "c3", "c4", "c5")


class FPN(nn.Module):
    """forward(OrderedDict c2..c5) -> OrderedDict p<first_level>..p7, all ``out_channels`` wide.

    in_channels_list: widths of c2..c5 (all four, whatever first_level is); first_level 2 (research) or 3
    (fast: c2 is ignored and p2 is not computed).
    """

    def __init__(self, in_channels_list: list[int], out_channels: int, first_level: int = 2):
        super().__init__()
        if first_level not in (2, 3):
            raise ValueError(f"FPN first_level must be 2 or 3, got {first_level}")
        skip = first_level - 2
        self.out_channels = out_channels
        self.in_names = FEATURE_NAMES[skip:]
        self.names = PYRAMID_NAMES[skip:]
        self.strides = PYRAMID_STRIDES[skip:]
        # P6/P7 computed from P5 (in == out channels), as FCOS does.
        self.fpn = FeaturePyramidNetwork(list(in_channels_list)[skip:], out_channels,
                                         extra_blocks=LastLevelP6P7(out_channels, out_channels))

    def forward(self, features: OrderedDict[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
        if len(self.in_names) != len(features):
            features = OrderedDict((name, features[name]) for name in self.in_names)
        out = self.fpn(features)
        return OrderedDict(zip(self.names, out.values()))
