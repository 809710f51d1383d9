"""The network in OpenVINO on the CPU, with the inference precision always set explicitly.

OpenVINO's CPU plugin silently runs bf16 by default on CPUs with bf16 instructions (this machine's Xeon:
AVX-512 BF16 + AMX); that changes logits by 0.4-2 (max abs), so an fp32 request must say so. Every compile here
passes INFERENCE_PRECISION_HINT (f32 | bf16 | f16) and checks the compiled model reports it back.
Reads an OpenVINO IR (.xml + .bin), an .onnx directly, or a checkpoint through the export cache.
"""
from __future__ import annotations

import functools
import logging
from pathlib import Path

import torch

from ..registry import RUNTIMES
from .base import CHECKPOINT_SUFFIXES, NetworkRuntime, RuntimeNotInstalled
from .exported import embedded_config, exported_file
from .outputs import unflatten_outputs

log = logging.getLogger(__name__)

# our precision name -> (OpenVINO element type name, OPTIMIZATION_CAPABILITIES entry)
_OV_PRECISION = {"fp32": ("f32", "FP32"), "bf16": ("bf16", "BF16"), "fp16": ("f16", "FP16")}


@RUNTIMES.register()
class OpenVinoRuntime(NetworkRuntime):
    """openvino CompiledModel on "CPU" (see module docstring). One infer request: call from one thread."""

    name = "openvino"
    package = "openvino"
    device_types = ("cpu",)
    reads = (".xml", ".onnx", *CHECKPOINT_SUFFIXES)

    def __init__(self, path: Path, *, device: torch.device, precision: str, source: str = ""):
        import openvino as ov

        cfg, categories = embedded_config(path)
        super().__init__(cfg, categories, device, precision, source or str(path))
        ov_type = getattr(ov.Type, _OV_PRECISION[precision][0])
        config = {"INFERENCE_PRECISION_HINT": ov_type, "PERFORMANCE_HINT": "LATENCY",
                  "INFERENCE_NUM_THREADS": torch.get_num_threads()}
        self.compiled = core().compile_model(core().read_model(str(path)), "CPU", config)
        applied = self.compiled.get_property("INFERENCE_PRECISION_HINT")
        if applied != ov_type:
            raise ValueError(f"OpenVINO compiled the model as {applied} although {ov_type} was requested")
        self.output_names = [o.get_any_name() for o in self.compiled.outputs]
        self.request = self.compiled.create_infer_request()

    @classmethod
    def precisions(cls, device: torch.device) -> dict[str, str]:
        if device.type != "cpu":
            reason = (f"runtime openvino runs on the CPU here (its GPU plugin is for Intel GPUs), not {device}; "
                      "on CUDA use runtime torch or onnxruntime")
            return dict.fromkeys(_OV_PRECISION, reason)
        capabilities = cpu_capabilities()
        support = {p: "" if cap in capabilities else f"this CPU offers no {p} inference in OpenVINO "
                   f"(OPTIMIZATION_CAPABILITIES: {', '.join(capabilities)}); use fp32"
                   for p, (_, cap) in _OV_PRECISION.items()}
        if not support["fp16"] and not cpu_has_native_fp16():
            # OpenVINO lists FP16 on AVX-512 CPUs, but without AMX-FP16 it was not faster than fp32 here
            support["fp16"] = "this CPU has no native fp16 compute (AMX-FP16); use bf16 or fp32"
        return support

    @classmethod
    def auto_precision(cls, device: torch.device) -> str:
        # bf16 where the CPU runs it natively (OpenVINO lists BF16 only then): 4-6x faster than fp32 here, PQ
        # within 0.05 of fp32 on the synthetic splits (see loading.py)
        return "bf16" if "BF16" in cpu_capabilities() else "fp32"

    @classmethod
    def from_model(cls, model, *, device, precision, cache_dir="") -> OpenVinoRuntime:
        with exported_file(model, "openvino", (".xml", ".onnx"), cls.name, cache_dir) as path:
            return cls(path, device=device, precision=precision, source="PanopticModel")

    @classmethod
    def from_file(cls, path: Path, *, device, precision, cache_dir="") -> OpenVinoRuntime:
        with exported_file(path, "openvino", (".xml", ".onnx"), cls.name, cache_dir) as ir_path:
            return cls(ir_path, device=device, precision=precision, source=str(path))

    def __call__(self, images: torch.Tensor, optional=None) -> dict:
        batch = images.detach().to("cpu", torch.float32).contiguous().numpy()
        results = self.request.infer({0: batch})  # copies the outputs (share_outputs=False)
        values = [torch.from_numpy(results[o]).to(self.device) for o in self.compiled.outputs]
        return unflatten_outputs(self.output_names, values)

    def close(self) -> None:
        self.__dict__.pop("request", None)
        self.__dict__.pop("compiled", None)


@functools.cache
def core():
    """The process's openvino.Core (plugins load once)."""
    try:
        import openvino as ov
    except ImportError:
        raise RuntimeNotInstalled(OpenVinoRuntime.unavailable_reason()) from None
    return ov.Core()


def cpu_has_native_fp16() -> bool:
    """ARM (fp16 arithmetic) or x86 with AMX-FP16: CPUs where fp16 inference can be faster than fp32."""
    import platform

    return platform.machine().lower() in ("aarch64", "arm64") or bool(torch.cpu._is_amx_fp16_supported())


def cpu_capabilities() -> list[str]:
    """OpenVINO's OPTIMIZATION_CAPABILITIES of the CPU (e.g. FP32, BF16, FP16, INT8)."""
    return list(core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
