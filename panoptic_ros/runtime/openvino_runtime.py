"""The network in OpenVINO on the CPU, with the inference precision always set explicitly.

OpenVINO's CPU plugin silently runs bf16 by default on CPUs with bf16 instructions (this machine's Xeon:
AVX-512 BF16 + AMX); that changes logits by 0.4-2 (max abs), so an fp32 request must say so. Every compile here
passes INFERENCE_PRECISION_HINT (f32 | bf16 | f16) and checks the compiled model reports it back.
int8: the IR quantized by NNCF (export/quantize.py; cached per checkpoint and calibration set), compiled with the
f32 hint (the int8 layers run in int8; what NNCF left in float stays f32).
Reads an OpenVINO IR (.xml + .bin), an .onnx directly, or a checkpoint through the export cache.
Threads: INFERENCE_NUM_THREADS = num_threads, NUM_STREAMS 1 (one stream: one frame at a time, all threads on
it), ENABLE_CPU_PINNING off (pinned threads cannot yield their core to post-processing or to other processes on a
shared CPU). The CPU plugin's TBB workers sleep when idle after a short spin; OpenVINO offers no switch for that
spin.
"""
from __future__ import annotations

import functools
import logging
from pathlib import Path

import torch

from ..export.outputs import unflatten_outputs
from ..registry import RUNTIMES
from . import cpu
from .base import CHECKPOINT_SUFFIXES, NetworkRuntime, RuntimeNotInstalled
from .exported import ExportedMaskHead, embedded_config, embedded_mask_head, exported_file

log = logging.getLogger(__name__)

# our precision name -> (OpenVINO element type name, OPTIMIZATION_CAPABILITIES entry)
# int8: the quantized IR compiled with the f32 hint (its quantized layers run in int8 whatever the hint)
_OV_PRECISION = {"fp32": ("f32", "FP32"), "bf16": ("bf16", "BF16"), "fp16": ("f16", "FP16"), "int8": ("f32", "INT8")}


@RUNTIMES.register()
class OpenVinoRuntime(ExportedMaskHead, NetworkRuntime):
    """openvino CompiledModel on "CPU" (see module docstring). One infer request: call from one thread."""

    name = "openvino"
    package = "openvino"
    device_types = ("cpu",)
    reads = (".xml", ".onnx", *CHECKPOINT_SUFFIXES)

    def __init__(self, path: Path, *, device: torch.device, precision: str, source: str = "", num_threads: int = 0):
        import openvino as ov

        cfg, categories = embedded_config(path)
        super().__init__(cfg, categories, device, precision, source or str(path), num_threads)
        ov_type = getattr(ov.Type, _OV_PRECISION[precision][0])
        config = {"INFERENCE_PRECISION_HINT": ov_type, "PERFORMANCE_HINT": "LATENCY",
                  "INFERENCE_NUM_THREADS": self.num_threads, "NUM_STREAMS": 1, "ENABLE_CPU_PINNING": False}
        self.compiled = core().compile_model(core().read_model(str(path)), "CPU", config)
        applied = self.compiled.get_property("INFERENCE_PRECISION_HINT")
        if applied != ov_type:
            raise ValueError(f"OpenVINO compiled the model as {applied} although {ov_type} was requested")
        self.output_names = [o.get_any_name() for o in self.compiled.outputs]
        self.request = self.compiled.create_infer_request()
        self.mask_head = embedded_mask_head(path)

    @classmethod
    def precisions(cls, device: torch.device) -> dict[str, str]:
        if device.type != "cpu":
            reason = (f"runtime openvino runs on the CPU here (its GPU plugin is for Intel GPUs), not {device}; "
                      "on CUDA use runtime torch or onnxruntime")
            return dict.fromkeys(_OV_PRECISION, reason)
        info = cpu.cpu_info()
        capabilities = info.openvino
        support = {p: "" if cap in capabilities else f"this CPU offers no {p} inference in OpenVINO "
                   f"(OPTIMIZATION_CAPABILITIES: {', '.join(capabilities)}); use fp32"
                   for p, (_, cap) in _OV_PRECISION.items()}
        if not support["fp16"] and not info.native_fp16:
            # OpenVINO lists FP16 on AVX-512 CPUs, but without AMX-FP16 it was not faster than fp32 here
            support["fp16"] = "this CPU has no native fp16 compute (AMX-FP16); use bf16 or fp32"
        return support

    @classmethod
    def auto_precision(cls, device: torch.device) -> str:
        # per CPU class (runtime/cpu.py): bf16 where the CPU runs it natively (OpenVINO lists BF16 only then):
        # 4-6x faster than fp32 here, PQ within 0.05 of fp32 on the synthetic splits (see loading.py)
        return cpu.auto_plan(cpu.cpu_info()).precision.get(cls.name, "fp32")

    @classmethod
    def from_model(cls, model, *, device, precision, cache_dir="", num_threads=0, calibration="") -> OpenVinoRuntime:
        with exported_file(model, "openvino", (".xml", ".onnx"), cls.name, cache_dir, precision=precision,
                           calibration=calibration) as path:
            return cls(path, device=device, precision=precision, source="PanopticModel", num_threads=num_threads)

    @classmethod
    def from_file(cls, path: Path, *, device, precision, cache_dir="", num_threads=0,
                  calibration="") -> OpenVinoRuntime:
        with exported_file(path, "openvino", (".xml", ".onnx"), cls.name, cache_dir, precision=precision,
                           calibration=calibration) as ir_path:
            return cls(ir_path, device=device, precision=precision, source=str(path), num_threads=num_threads)

    def __call__(self, images: torch.Tensor, optional=None) -> dict:
        """forward_raw's dict; the pyramid "features" only when ``optional`` asks."""
        batch = images.detach().to("cpu", torch.float32).contiguous().numpy()
        results = self.request.infer({0: batch})  # copies the outputs (share_outputs=False)
        want = "features" in (optional or ())
        pairs = [(n, o) for n, o in zip(self.output_names, self.compiled.outputs)
                 if want or not n.startswith("features_")]
        values = [torch.from_numpy(results[o]).to(self.device) for _, o in pairs]
        return unflatten_outputs([n for n, _ in pairs], values)

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

