"""panoptic_ros.runtime: the pluggable network step of the inference pipeline.

load_runtime(source, runtime=, device=, precision=, cache_dir=) -> NetworkRuntime, called on a normalised
padded batch, returns PanopticModel.forward_raw's dict whichever runtime (torch, onnxruntime, openvino) ran it.
Runtimes are registered in panoptic_ros.registry.RUNTIMES; onnxruntime and openvino are imported only when used.
"""
from .base import PRECISIONS, NetworkRuntime, RuntimeNotInstalled
from .loading import auto_runtime_order, available_runtimes, load_runtime, resolve_precision, resolve_runtime

__all__ = ["PRECISIONS", "NetworkRuntime", "RuntimeNotInstalled", "auto_runtime_order", "available_runtimes",
           "load_runtime", "resolve_precision", "resolve_runtime"]
