"""The network in ONNX Runtime: CPUExecutionProvider here; CUDA and TensorRT execution providers with the
onnxruntime-gpu build (pip install onnxruntime-gpu instead of onnxruntime).

Measured here (2 cores): 1.3-1.5x faster than torch eager fp32 with the same outputs (max abs diff <= 2e-4);
the fastest fp32 runtime for the shipped model. fp32 only on CPU. On CUDA: fp32 through the TensorRT provider
when present (else the CUDA provider, without TF32); fp16 needs the TensorRT provider (its fp16 mode; a
CUDA-provider fp16 graph would need a converted model). Inputs and outputs pass through host memory (numpy),
then go to ``device``.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..registry import RUNTIMES
from .base import CHECKPOINT_SUFFIXES, NetworkRuntime, RuntimeNotInstalled
from .exported import embedded_config, exported_file
from .outputs import unflatten_outputs

log = logging.getLogger(__name__)

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
TENSORRT_PROVIDER = "TensorrtExecutionProvider"


@RUNTIMES.register()
class OnnxRuntime(NetworkRuntime):
    """onnxruntime.InferenceSession over the ONNX export (see module docstring)."""

    name = "onnxruntime"
    package = "onnxruntime"
    device_types = ("cpu", "cuda")
    reads = (".onnx", *CHECKPOINT_SUFFIXES)

    def __init__(self, path: Path, *, device: torch.device, precision: str, cache_dir: str | Path = "",
                 source: str = ""):
        import onnxruntime as ort

        cfg, categories = embedded_config(path)
        super().__init__(cfg, categories, device, precision, source or str(path))
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = self.providers_for(device, precision, cache_dir)
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        used = self.session.get_providers()
        if used[0] != _provider_name(providers[0]):
            raise ValueError(f"onnxruntime could not start {_provider_name(providers[0])} (running on {used[0]}); "
                             "check the CUDA / cuDNN / TensorRT libraries of onnxruntime-gpu")
        self.providers = used
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        log.debug("onnxruntime session on %s, %d threads", used, options.intra_op_num_threads)

    @classmethod
    def precisions(cls, device: torch.device) -> dict[str, str]:
        if device.type == "cpu":
            return {"fp32": "", "bf16": "runtime onnxruntime runs fp32 on CPU; bf16 is offered by runtime openvino",
                    "fp16": "fp16 needs CUDA (runtime torch, or onnxruntime-gpu with TensorRT)"}
        providers = _available_providers()
        if CUDA_PROVIDER not in providers:
            reason = ("onnxruntime has no CUDA execution provider: pip install onnxruntime-gpu "
                      "(instead of onnxruntime)")
            return {"fp32": reason, "bf16": reason, "fp16": reason}
        return {"fp32": "", "bf16": "runtime onnxruntime has no bf16 mode; use fp16 or fp32",
                "fp16": "" if TENSORRT_PROVIDER in providers else
                "onnxruntime fp16 needs its TensorRT execution provider (onnxruntime-gpu + TensorRT libraries)"}

    @classmethod
    def auto_precision(cls, device: torch.device) -> str:
        return "fp16" if device.type == "cuda" and TENSORRT_PROVIDER in _available_providers() else "fp32"

    @staticmethod
    def providers_for(device: torch.device, precision: str, cache_dir: str | Path = "") -> list:
        """Execution providers, best first: TensorRT (when present), CUDA, CPU on cuda; CPU on cpu."""
        if device.type == "cpu":
            return [CPU_PROVIDER]
        from ..export import default_cache_dir

        index = device.index or 0
        chain: list = []
        if TENSORRT_PROVIDER in _available_providers():
            engines = Path(cache_dir) if str(cache_dir) else default_cache_dir()
            chain.append((TENSORRT_PROVIDER, {"device_id": index, "trt_fp16_enable": precision == "fp16",
                                              "trt_engine_cache_enable": True,
                                              "trt_engine_cache_path": str(engines / "tensorrt")}))
        # fp32 means fp32: no TF32 convolutions (they change logits by ~1e-3)
        chain.append((CUDA_PROVIDER, {"device_id": index, "use_tf32": 0 if precision == "fp32" else 1}))
        return [*chain, CPU_PROVIDER]

    @classmethod
    def from_model(cls, model, *, device, precision, cache_dir="") -> OnnxRuntime:
        with exported_file(model, "onnx", (".onnx",), cls.name, cache_dir) as path:
            return cls(path, device=device, precision=precision, cache_dir=cache_dir, source="PanopticModel")

    @classmethod
    def from_file(cls, path: Path, *, device, precision, cache_dir="") -> OnnxRuntime:
        with exported_file(path, "onnx", (".onnx",), cls.name, cache_dir) as onnx_path:
            return cls(onnx_path, device=device, precision=precision, cache_dir=cache_dir, source=str(path))

    def __call__(self, images: torch.Tensor, optional=None) -> dict:
        batch = images.detach().to("cpu", torch.float32).contiguous().numpy()
        outputs = self.session.run(self.output_names, {self.input_name: batch})
        return unflatten_outputs(self.output_names, [torch.from_numpy(o).to(self.device) for o in outputs])

    def close(self) -> None:
        self.__dict__.pop("session", None)


def _available_providers() -> list[str]:
    try:
        import onnxruntime as ort
    except ImportError:
        raise RuntimeNotInstalled(OnnxRuntime.unavailable_reason()) from None
    return ort.get_available_providers()


def _provider_name(provider) -> str:
    return provider[0] if isinstance(provider, tuple) else provider
