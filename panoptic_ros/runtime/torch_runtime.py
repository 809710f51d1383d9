"""The network in PyTorch eager mode: the reference every other runtime is checked against, and the CUDA path.

CPU: channels_last memory format (measured here 1.06-1.3x faster than contiguous NCHW, same outputs to 4e-4);
bf16 autocast where AMX runs it natively (auto there; 2.1-2.9x faster than fp32, see loading.py), fp32
elsewhere; no int8 (onnxruntime and openvino offer it). num_threads sets torch's intra-op thread pool, which is
process-wide (torch.set_num_threads): the last runtime built decides it for the process.
CUDA: fp16 autocast (auto), fp32 without TF32 or bf16 on request, channels_last, and one warm-up pass
at the model's nominal input size when built, so the first frame does not pay for cuDNN's algorithm selection.
"""
from __future__ import annotations

import contextlib
import gc
from pathlib import Path

import torch

from ..modeling.checkpoint import load_checkpoint
from ..registry import RUNTIMES
from . import cpu
from .base import CHECKPOINT_SUFFIXES, PRECISIONS, NetworkRuntime, example_input
from .outputs import map_outputs

_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@RUNTIMES.register()
class TorchRuntime(NetworkRuntime):
    """PanopticModel.forward_raw under torch.inference_mode (see module docstring). The given model is set to eval
    mode and moved to ``device``; what runs is its BatchNorm-folded copy (PanopticModel.inference_network, cached
    on the model) in the chosen memory format."""

    name = "torch"
    device_types = ("cpu", "cuda")

    def __init__(self, model, *, device: torch.device, precision: str, channels_last: bool = True,
                 warmup: bool | None = None, source: str = "", num_threads: int = 0):
        super().__init__(model.cfg, model.categories, device, precision, source or "PanopticModel", num_threads)
        if num_threads:  # 0 keeps the process's setting (all cores by default)
            torch.set_num_threads(self.num_threads)
        self.channels_last = channels_last
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        model.eval().to(device=device)
        # BatchNorm folded into the convolutions (a cached copy; the model itself stays as it is)
        self.model = model.inference_network().to(memory_format=memory_format)
        key = (str(device), precision, channels_last)
        if (warmup if warmup is not None else device.type == "cuda") and getattr(model, "_warm", None) != key:
            self.warm_up()
            model._warm = key  # predict() builds a runtime per call: warm up once per model and setting

    @classmethod
    def precisions(cls, device: torch.device) -> dict[str, str]:
        support = {p: "" for p in PRECISIONS}
        support["int8"] = "runtime torch has no int8 mode"
        if device.type == "cpu":
            support["fp16"] = "torch fp16 runs on CUDA only (on CPU use fp32, or bf16 where the CPU supports it)"
            if not cpu.cpu_info().torch_bf16:
                support["bf16"] = "oneDNN has no bf16 kernels for this CPU (needs AVX-512 or ARM bf16); use fp32"
        elif device.type == "cuda" and not torch.cuda.is_bf16_supported():
            support["bf16"] = f"{torch.cuda.get_device_name(device)} has no bf16 support; use fp16 or fp32"
        return support

    @classmethod
    def auto_precision(cls, device: torch.device) -> str:
        # CUDA: fp16 autocast (tensor cores). CPU: the CPU class's plan (runtime/cpu.py): bf16 autocast where AMX
        # runs it natively (measured 2.0-2.9x faster than fp32 with PQ within 0.05, see loading.py), else fp32.
        if device.type == "cuda":
            return "fp16"
        return cpu.auto_plan(cpu.cpu_info()).precision.get(cls.name, "fp32")

    @classmethod
    def from_model(cls, model, *, device, precision, cache_dir="", num_threads=0, calibration="") -> TorchRuntime:
        return cls(model, device=device, precision=precision, num_threads=num_threads)

    @classmethod
    def from_file(cls, path: Path, *, device, precision, cache_dir="", num_threads=0, calibration="") -> TorchRuntime:
        if path.suffix not in CHECKPOINT_SUFFIXES:
            raise ValueError(f"{path}: runtime torch runs checkpoints ({', '.join(CHECKPOINT_SUFFIXES)}); an "
                             f"exported {path.suffix} file runs with runtime onnxruntime or openvino")
        return cls(load_checkpoint(path, device="cpu"), device=device, precision=precision, source=str(path),
                   num_threads=num_threads)

    def _precision_context(self):
        dtype = _AUTOCAST_DTYPES.get(self.precision)
        if dtype is not None:
            return torch.autocast(self.device.type, dtype=dtype)
        if self.device.type == "cuda":  # fp32 means fp32: no TF32 convolutions (cuDNN's default)
            cudnn = torch.backends.cudnn
            return cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark,
                               benchmark_limit=cudnn.benchmark_limit, deterministic=cudnn.deterministic,
                               allow_tf32=False)
        return contextlib.nullcontext()

    def __call__(self, images: torch.Tensor, optional=()) -> dict:
        """forward_raw with only the optional outputs asked for (default none: heads of inactive policies cost
        nothing); the "features" for the RoI mask head stay in the network's dtype (mask_logits reads them)."""
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        images = images.to(self.device, torch.float32, non_blocking=True).contiguous(memory_format=memory_format)
        with torch.inference_mode(), self._precision_context():
            raw = self.model.forward_raw(images, optional=tuple(optional or ()))
        features = raw.pop("features", None)
        out = map_outputs(raw, lambda t: t.float().contiguous())
        if features is not None:
            out["features"] = features
        return out

    def optional_outputs(self) -> frozenset[str]:
        heads = self.model.heads()
        return frozenset({"levelness": "levelness", "borderness": "borderness", "mask_head": "features"}[h]
                         for h in heads)

    def host_threads(self) -> int:
        """The process's torch threads: here torch runs the network itself, which wants every thread."""
        return torch.get_num_threads()

    def mask_logits(self, features: list, boxes: list, padded: tuple[int, int]) -> torch.Tensor:
        """The RoI mask head (PanopticModel.mask_logits) on this runtime's features, in its precision."""
        with torch.inference_mode(), self._precision_context():
            return self.model.mask_logits(features, [b.to(self.device) for b in boxes], padded).float()

    def warm_up(self) -> None:
        """One pass at the model's nominal input size (cuDNN algorithm choice, CUDA context, allocator)."""
        self(example_input(self.model))
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def close(self) -> None:
        self.__dict__.pop("model", None)
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

