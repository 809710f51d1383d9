"""Choosing the torch device from the config string (auto | cpu | cuda | cuda:N)."""
from __future__ import annotations

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """Map a device string to a torch.device; "auto" picks CUDA when present.

    Asking for CUDA on a machine without it is an error (ValueError) instead of a silent CPU fallback,
    so a robot that was configured for the GPU does not run 20x slower unnoticed.
    """
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but CUDA is not available on this machine "
                             "(use inference.device=cpu or auto)")
        if ":" in name:
            index = name.split(":", 1)[1]
            if not index.isdigit():
                raise ValueError(f"device {name!r}: expected cuda:N with N an integer")
            if int(index) >= torch.cuda.device_count():
                raise ValueError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) present")
        return torch.device(name)
    raise ValueError(f"unknown device {name!r} (expected auto, cpu, cuda or cuda:N)")
