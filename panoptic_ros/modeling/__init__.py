"""panoptic_ros.modeling: the single-shot panoptic network, its losses and checkpoints (inference: pipeline).

build_model(cfg, categories) -> PanopticModel; save_checkpoint / load_checkpoint; default_model_path().
"""
from pathlib import Path

from .build import build_model
from .checkpoint import CheckpointError, load_checkpoint, read_sidecar, save_checkpoint
from .device import resolve_device
from .panoptic_model import PanopticModel


def default_model_path() -> Path:
    """The shipped model: panoptic_ros/weights/default.safetensors (+ default.json)."""
    return Path(__file__).resolve().parent.parent / "weights" / "default.safetensors"


__all__ = ["CheckpointError", "PanopticModel", "build_model", "default_model_path",
           "load_checkpoint", "read_sidecar", "resolve_device", "save_checkpoint"]
