"""Semantic branch: p2..p5 -> logits over all classes (things and stuff) at 1/4 resolution.

The same light multi-scale design (one conv + GroupNorm + ReLU per level, upsample to 1/4, sum) also
feeds the instance-center branch (center_head.py).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

BRANCH_LEVELS = ("p2", "p3", "p4", "p5")


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with the most groups (up to 32, as the research) that divide ``channels`` and keep at least
    4 channels per group: small CPU models have e.g. 24 or 32 channels, and p7 can be 1x1 pixel, where a
    group of one channel would normalise everything to zero."""
    groups = max([g for g in range(1, 33) if channels % g == 0 and channels // g >= 4] or [1])
    return nn.GroupNorm(groups, channels)


def conv_gn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         group_norm(out_channels), nn.ReLU(inplace=True))


class MultiScaleBranch(nn.Module):
    """p2..p5 each through conv-GN-ReLU, bilinearly upsampled to p2's size and summed, then a 1x1 conv.

    forward(pyramid dict) -> [B, out_channels, H/4, W/4].
    """

    def __init__(self, in_channels: int, branch_channels: int, out_channels: int):
        super().__init__()
        self.levels = nn.ModuleDict({name: conv_gn_relu(in_channels, branch_channels) for name in BRANCH_LEVELS})
        self.predictor = nn.Conv2d(branch_channels, out_channels, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, pyramid: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.predictor(upsample_sum(self.levels, pyramid))


def upsample_sum(blocks: nn.ModuleDict, pyramid: dict[str, torch.Tensor]) -> torch.Tensor:
    """Each pyramid level through its block, bilinearly resized to the first block's level, summed."""
    size = pyramid[next(iter(blocks))].shape[-2:]
    out = None
    for name, block in blocks.items():
        y = block(pyramid[name])
        if y.shape[-2:] != size:
            y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
        out = y if out is None else out + y
    return out


class SemanticHead(MultiScaleBranch):
    """Per-pixel class logits over every category channel (CategoryMap order), at stride 4."""

    def __init__(self, in_channels: int, branch_channels: int, num_classes: int):
        super().__init__(in_channels, branch_channels, num_classes)
        nn.init.normal_(self.predictor.weight, std=0.01)
