"""build_model: a new network for training, from its config; the one place model.init_weights is read.

The constructor only builds the network (PanopticModel(cfg, categories)); starting from another checkpoint's
tensors is a training decision, so it happens here, after construction, and never when a checkpoint is loaded
(load_checkpoint builds the bare network and loads all its weights).
"""
from __future__ import annotations

from ..config import PanopticConfig
from ..data.categories import CategoryMap
from .checkpoint import load_matching_weights
from .panoptic_model import PanopticModel


def build_model(cfg: PanopticConfig, categories: CategoryMap) -> PanopticModel:
    """The model described by cfg.model for the given categories (all classes for semantics, things for
    detection), initialised from cfg.model.init_weights' matching tensors when set."""
    model = PanopticModel(cfg, categories)
    if cfg.model.init_weights:
        load_matching_weights(model, cfg.model.init_weights)
    return model
