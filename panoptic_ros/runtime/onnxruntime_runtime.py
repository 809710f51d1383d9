"""The network in ONNX Runtime: CPUExecutionProvider here; CUDA and TensorRT execution providers with the
onnxruntime-gpu build (pip install onnxruntime-gpu instead of onnxruntime).

Measured here (2 cores): 1.3-1.5x faster than torch eager fp32 with the same outputs (max abs diff <= 2e-4);
the fastest fp32 runtime for the shipped model. On CPU fp32, or int8: the export quantized by onnxruntime's
static QDQ quantization (export/quantize.py; cached per checkpoint and calibration set).
Threads: intra_op_num_threads = num_threads, and its idle workers do not spin (session.intra_op.allow_spinning
= 0): a spinning pool keeps every core busy between frames and steals them from post-processing and from
other processes on a shared CPU. On CUDA: fp32 through the TensorRT provider
when present (else the CUDA provider, without TF32); fp16 needs the TensorRT provider (its fp16 mode; a
CUDA-provider fp16 graph would need a converted model). Inputs and outputs pass through host memory (numpy),
then go to ``device``.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..export import default_cache_dir
from ..export.outputs import unflatten_outputs
from ..registry import RUNTIMES
from . import cpu
from .base import CHECKPOINT_SUFFIXES, NetworkRuntime, RuntimeNotInstalled
from .exported import ExportedMaskHead, embedded_config, embedded_mask_head, exported_file

log = logging.getLogger(__name__)

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
TENSORRT_PROVIDER = "TensorrtExecutionProvider"


@RUNTIMES.register()
class OnnxRuntime(ExportedMaskHead, NetworkRuntime):
    """onnxruntime.InferenceSession over the ONNX export (see module docstring)."""

    name = "onnxruntime"
    package = "onnxruntime"
    device_types = ("cpu", "cuda")
    reads = (".onnx", *CHECKPOINT_SUFFIXES)

    def __init__(self, path: Path, *, device: torch.device, precision: str, cache_dir: str | Path = "",
                 source: str = "", num_threads: int = 0):
        import onnxruntime as ort

        cfg, categories = embedded_config(path)
        super().__init__(cfg, categories, device, precision, source or str(path), num_threads)
        self.session_options = options = session_options(self.num_threads)
        providers = self.providers_for(device, precision, cache_dir)
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        used = self.session.get_providers()
        if used[0] != _provider_name(providers[0]):
            raise ValueError(f"onnxruntime could not start {_provider_name(providers[0])} (running on {used[0]}); "
                             "check the CUDA / cuDNN / TensorRT libraries of onnxruntime-gpu")
        self.providers = used
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.mask_head = embedded_mask_head(path)
        log.debug("onnxruntime session on %s, %d threads", used, options.intra_op_num_threads)

    @classmethod
    def precisions(cls, device: torch.device) -> dict[str, str]:
        if device.type == "cpu":
            return {"fp32": "", "int8": "", "bf16": "runtime onnxruntime runs fp32 or int8 on CPU",
                    "fp16": "fp16 needs CUDA (runtime torch, or onnxruntime-gpu with TensorRT)"}
        providers = _available_providers()
        if CUDA_PROVIDER not in providers:
            reason = ("onnxruntime has no CUDA execution provider: pip install onnxruntime-gpu "
                      "(instead of onnxruntime)")
            return {"fp32": reason, "bf16": reason, "fp16": reason}
        return {"fp32": "", "bf16": "runtime onnxruntime has no bf16 mode; use fp16 or fp32",
                "int8": "runtime onnxruntime runs int8 on CPU only (its CPU execution provider)",
                "fp16": "" if TENSORRT_PROVIDER in providers else
                "onnxruntime fp16 needs its TensorRT execution provider (onnxruntime-gpu + TensorRT libraries)"}

    @classmethod
    def auto_precision(cls, device: torch.device) -> str:
        if device.type == "cuda":
            return "fp16" if TENSORRT_PROVIDER in _available_providers() else "fp32"
        return cpu.auto_plan(cpu.cpu_info()).precision.get(cls.name, "fp32")  # per CPU class (runtime/cpu.py)

    @staticmethod
    def providers_for(device: torch.device, precision: str, cache_dir: str | Path = "") -> list:
        """Execution providers, best first: TensorRT (when present), CUDA, CPU on cuda; CPU on cpu."""
        if device.type == "cpu":
            return [CPU_PROVIDER]
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
    def from_model(cls, model, *, device, precision, cache_dir="", num_threads=0, calibration="") -> OnnxRuntime:
        with exported_file(model, "onnx", (".onnx",), cls.name, cache_dir, precision=precision,
                           calibration=calibration) as path:
            return cls(path, device=device, precision=precision, cache_dir=cache_dir, source="PanopticModel",
                       num_threads=num_threads)

    @classmethod
    def from_file(cls, path: Path, *, device, precision, cache_dir="", num_threads=0, calibration="") -> OnnxRuntime:
        with exported_file(path, "onnx", (".onnx",), cls.name, cache_dir, precision=precision,
                           calibration=calibration) as onnx_path:
            return cls(onnx_path, device=device, precision=precision, cache_dir=cache_dir, source=str(path),
                       num_threads=num_threads)

    def __call__(self, images: torch.Tensor, optional=None) -> dict:
        """forward_raw's dict; the pyramid "features" only when ``optional`` asks (they are not copied out
        otherwise)."""
        batch = images.detach().to("cpu", torch.float32).contiguous().numpy()
        names = [n for n in self.output_names if "features" in (optional or ()) or not n.startswith("features_")]
        outputs = self.session.run(names, {self.input_name: batch})
        return unflatten_outputs(names, [torch.from_numpy(o).to(self.device) for o in outputs])

    def close(self) -> None:
        self.__dict__.pop("session", None)


def session_options(num_threads: int):
    """SessionOptions: ``num_threads`` intra-op threads that sleep when idle, one inter-op thread, all graph
    optimisations."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def _available_providers() -> list[str]:
    try:
        import onnxruntime as ort
    except ImportError:
        raise RuntimeNotInstalled(OnnxRuntime.unavailable_reason()) from None
    return ort.get_available_providers()


def _provider_name(provider) -> str:
    return provider[0] if isinstance(provider, tuple) else provider
