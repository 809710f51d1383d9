"""What every network runtime offers the pipeline: images in, forward_raw's dict out, whatever runs it.

The pipeline (preprocess -> network -> decoding/NMS -> mapping -> merge) is written once; only the network
step is pluggable. A runtime takes the normalised, padded batch of the preprocess stage (pipeline.inputs) and
returns float32 torch tensors on ``self.device`` in forward_raw's structure, so decoding and the panoptic
head never know whether torch, ONNX Runtime or OpenVINO ran the network.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from ..export.common import REQUIREMENTS, RuntimeNotInstalled, example_input, import_package
from . import cpu

PRECISIONS = ("fp32", "bf16", "fp16", "int8")
__all__ = ["CHECKPOINT_SUFFIXES", "PRECISIONS", "REQUIREMENTS", "NetworkRuntime", "RuntimeNotInstalled",
           "example_input", "import_package"]
CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth")


class NetworkRuntime:
    """Base class: attributes name, precision (fp32 | bf16 | fp16 | int8), device (torch.device of inputs and
    outputs), cfg (PanopticConfig), categories (CategoryMap), source (what it was built from), num_threads (the
    CPU threads its network uses: inference.num_threads, 0 = all cores, resolved by runtime.cpu.thread_count)."""

    name: ClassVar[str] = ""
    package: ClassVar[str] = ""             # the module whose import makes the runtime available
    device_types: ClassVar[tuple[str, ...]] = ("cpu",)
    reads: ClassVar[tuple[str, ...]] = CHECKPOINT_SUFFIXES  # model file suffixes from_file accepts

    def __init__(self, cfg, categories, device: torch.device, precision: str, source: str = "",
                 num_threads: int = 0):
        self.num_threads = cpu.thread_count(num_threads)
        self.cfg = cfg
        self.categories = categories
        self.device = device
        self.precision = precision
        self.source = source

    # ----------------------------------------------------------------------- availability and capabilities
    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when the runtime's package imports, else one line naming the package to install."""
        if not cls.package:
            return None
        try:
            import_package(cls.package, f"runtime {cls.name}")
        except RuntimeNotInstalled as exc:
            return str(exc)
        return None

    @classmethod
    def require(cls) -> None:
        """Raise RuntimeNotInstalled with unavailable_reason() when the package is missing."""
        reason = cls.unavailable_reason()
        if reason:
            raise RuntimeNotInstalled(reason)

    @classmethod
    def precisions(cls, device: torch.device) -> dict[str, str]:
        """precision -> '' when this runtime can run it on ``device``, else the one-line reason it cannot."""
        raise NotImplementedError

    @classmethod
    def auto_precision(cls, device: torch.device) -> str:
        """The precision "auto" means on ``device`` (see panoptic_ros.runtime.loading for the measurements)."""
        return "fp32"

    # ----------------------------------------------------------------------- building
    @classmethod
    def from_model(cls, model, *, device: torch.device, precision: str, cache_dir: str | Path = "",
                   num_threads: int = 0, calibration: str | Path = "") -> NetworkRuntime:
        """A runtime for a PanopticModel instance (exported to a temporary file for foreign runtimes).
        calibration: int8's calibration image folder ("" = the default synthetic set; export/quantize.py)."""
        raise NotImplementedError

    @classmethod
    def from_file(cls, path: Path, *, device: torch.device, precision: str, cache_dir: str | Path = "",
                  num_threads: int = 0, calibration: str | Path = "") -> NetworkRuntime:
        """A runtime for a checkpoint (.safetensors / .pt / .pth) or an exported file this runtime reads."""
        raise NotImplementedError

    # ----------------------------------------------------------------------- running
    def __call__(self, images: torch.Tensor, optional=None) -> dict[str, Any]:
        """images: float32 [B, 3, H, W], normalised and padded to cfg.model.size_divisibility ->
        forward_raw's dict of float32 tensors on self.device. optional: the optional outputs the active merge
        policies read (PanopticModel.OPTIONAL_OUTPUTS); a runtime that computes them only on request honours it,
        an exported graph returns whatever it was exported with."""
        raise NotImplementedError

    def optional_outputs(self) -> frozenset[str]:
        """The optional outputs (levelness, borderness, features) this runtime can return. Exported graphs: the
        ones among their output names; "features" only with the RoI mask head embedded too (mask_logits)."""
        names = getattr(self, "output_names", ()) or ()
        keys = {n.rsplit("_", 1)[0] if n.rsplit("_", 1)[-1].isdigit() else n for n in names}
        if getattr(self, "mask_head", None) is None:
            keys.discard("features")
        return frozenset(keys & {"levelness", "borderness", "features"})

    def mask_logits(self, features: list, boxes: list, padded: tuple[int, int]) -> torch.Tensor:
        """RoI mask head logits [sum Ni, K, 28, 28] from this runtime's "features" (runtimes that offer them)."""
        raise ValueError(f"runtime {self.name} has no RoI mask head")

    def host_threads(self) -> int:
        """torch threads for the work around this network (pre- and post-processing in the pipeline): 1. Next to
        a network that torch does not run, torch only runs small per-frame ops; its OpenMP workers busy-wait
        between them, and on a CPU shared with other work every op then waits for a descheduled worker
        (`panoptic bench contention`, 2-core AVX2 EPYC, onnxruntime int8 at 2 threads: 8.8x slower per frame with
        one busy process per core when torch had 2 threads, 1.3x with 1; quiet cost 1-2 ms per frame)."""
        return 1

    def close(self) -> None:
        """Free the network's memory; the runtime cannot be called afterwards."""

    def __enter__(self) -> NetworkRuntime:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def describe(self) -> dict[str, str]:
        """name / precision / device / source, for logs and benchmark reports."""
        return {"runtime": self.name, "precision": self.precision, "device": str(self.device),
                "source": str(self.source), "num_threads": str(self.num_threads)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(precision={self.precision!r}, device={str(self.device)!r})"
