"""panoptic_ros.runtime: the pluggable network step of the inference pipeline.

load_runtime(source, runtime=, device=, precision=, cache_dir=) -> NetworkRuntime, called on a normalised
padded batch, returns PanopticModel.forward_raw's dict whichever runtime (torch, onnxruntime, openvino) ran it.
Runtimes are registered in panoptic_ros.registry.RUNTIMES; onnxruntime and openvino are imported only when used.
"""
from .base import PRECISIONS, NetworkRuntime, RuntimeNotInstalled
from .loading import AUTO_RUNTIMES, available_runtimes, load_runtime, resolve_precision, resolve_runtime

__all__ = ["AUTO_RUNTIMES", "PRECISIONS", "NetworkRuntime", "RuntimeNotInstalled", "available_runtimes",
           "load_runtime", "resolve_precision", "resolve_runtime"]
