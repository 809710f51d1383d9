"""Instance-center branch: per-pixel (x, y) offset from the pixel center to its instance's box center.

Same light design as the semantic branch. Offsets are in pixels of the network input; the raw conv
output is multiplied by OFFSET_SCALE so that typical offsets (tens to hundreds of pixels) are reached with
unit-sized activations (L1 gradients have constant size, so this sets how fast offsets can grow).
"""
from __future__ import annotations

import torch
from torch import nn

from .semantic_head import MultiScaleBranch

OFFSET_SCALE = 16.0


class CenterHead(MultiScaleBranch):
    """forward(pyramid) -> offsets [B, 2, H/4, W/4] in input pixels; channel 0 = x, channel 1 = y."""

    def __init__(self, in_channels: int, branch_channels: int):
        super().__init__(in_channels, branch_channels, 2)
        nn.init.normal_(self.predictor.weight, std=0.01)

    def forward(self, pyramid: dict[str, torch.Tensor]) -> torch.Tensor:
        return super().forward(pyramid) * OFFSET_SCALE
