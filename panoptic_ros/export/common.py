"""What export and the runtimes above it share: optional-package imports with a one-line install hint, and the
example input a network is traced / warmed up with (here, below the runtime layer, so export imports no runtime)."""
from __future__ import annotations

import importlib

import torch

from ..modeling.preprocess import input_limits, padded_size

# optional packages -> what to pip install (the pins of requirements.txt; a test keeps them equal)
REQUIREMENTS = {"onnx": "onnx==1.23.2", "onnxruntime": "onnxruntime==1.32.0 (or onnxruntime-gpu for CUDA)",
                "openvino": "openvino==2026.4.1", "nncf": "nncf==3.4.0"}


class RuntimeNotInstalled(ValueError):
    """An optional package (a runtime, an exporter, a quantizer) is missing; the message names what to install."""


def import_package(module: str, purpose: str):
    """Import an optional package, or raise RuntimeNotInstalled: '<purpose> needs the <module> package: pip
    install <its REQUIREMENTS entry>' (one line)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise RuntimeNotInstalled(f"{purpose} needs the {module} package: pip install "
                                  f"{REQUIREMENTS.get(module, module)}") from None


def example_input(model) -> torch.Tensor:
    """A [1, 3, H, W] input at the model's nominal input size, padded to size_divisibility (export, warm-up).

    Nominal size: the checkpoint's inference.input_size / max_input_size, else its training resize.
    """
    size = padded_size([input_limits(model.cfg)], model.cfg.model.size_divisibility)
    return torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(0))
