"""Fast layout: ONE light decoder for the semantic and instance-center branches, at stride 8, on p3..p5.

Why: in the research layout each of the two branches runs a 256->128 3x3 conv on p2..p5 and sums at stride 4
(p2 alone: 2 x 9 GMAC at 576x864), on top of the 256-wide p2 smoothing conv of the FPN (18 GMAC). Those
panoptic extras cost more than the whole FCOS detector. Here the branches share everything up to their last
layers and stay at stride 8, where the detector's finest level already lives:

    p3, p4, p5 -- 1x1 conv to branch width + GN + ReLU (cheap laterals) -- bilinear upsample to p3, sum
    -> ``shared_convs`` x (3x3 conv + GN + ReLU)
    -> per task: 3x3 conv + GN + ReLU -> 1x1 conv: semantic logits [B, C, H/8, W/8], offsets [B, 2, H/8, W/8]

About 5 GMAC at 576x864 with 128 channels (the research branches + p2: about 45). Outputs stay at stride 8:
the panoptic mapping derives the stride from the shapes and upsamples once, to where it fuses.
"""
from __future__ import annotations

import torch
from torch import nn

from .center_head import OFFSET_SCALE
from .semantic_head import group_norm, upsample_sum

DECODER_LEVELS = ("p3", "p4", "p5")


def _conv_gn_relu(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False),
                         group_norm(out_channels), nn.ReLU(inplace=True))


class SharedDecoder(nn.Module):
    """forward(pyramid with p3..p5) -> (semantic logits [B, C, H/8, W/8], offsets [B, 2, H/8, W/8] in input px)."""

    def __init__(self, in_channels: int, branch_channels: int, num_classes: int, shared_convs: int = 2):
        super().__init__()
        self.lateral = nn.ModuleDict({name: _conv_gn_relu(in_channels, branch_channels, 1)
                                      for name in DECODER_LEVELS})
        self.shared = nn.Sequential(*[_conv_gn_relu(branch_channels, branch_channels, 3)
                                      for _ in range(shared_convs)])
        self.semantic_tower = _conv_gn_relu(branch_channels, branch_channels, 3)
        self.center_tower = _conv_gn_relu(branch_channels, branch_channels, 3)
        self.semantic = nn.Conv2d(branch_channels, num_classes, 1)
        self.offsets = nn.Conv2d(branch_channels, 2, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for predictor in (self.semantic, self.offsets):
            nn.init.normal_(predictor.weight, std=0.01)

    def forward(self, pyramid: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.shared(upsample_sum(self.lateral, pyramid))
        semantic = self.semantic(self.semantic_tower(x))
        offsets = self.offsets(self.center_tower(x)) * OFFSET_SCALE
        return semantic, offsets
