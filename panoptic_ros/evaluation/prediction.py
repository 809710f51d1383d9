"""ImagePrediction: what the metrics read from one image's predictions, whoever made them (the pipeline in
engine.dataset_eval, the ground-truth oracle in evaluation.oracle)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class ImagePrediction:
    """Everything the metrics need from one network pass on one image."""
    results: dict[str, Any]                 # policy -> PanopticResult (channel-index categories)
    semantic: torch.Tensor                  # int64 [H, W] argmax of the semantic branch (channel index)
    boxes: torch.Tensor                     # [N, 4] xyxy in original-image pixels
    scores: torch.Tensor                    # [N]
    labels: torch.Tensor                    # [N] channel index
    common_s: float = 0.0                   # preprocess + network + detection post-processing (seconds)
    fuse_s: dict[str, float] = field(default_factory=dict)  # policy -> fuse time (seconds)
    stages_s: dict[str, float] = field(default_factory=dict)
