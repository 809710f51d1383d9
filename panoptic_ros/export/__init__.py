"""panoptic_ros.export: the network as a deployable file (ONNX, OpenVINO IR) that needs no Python model code.

export_onnx(model, path) / export_openvino(model_or_onnx, path) write the network alone (decoding, NMS and
the panoptic head stay in Python) with its config and categories embedded, so the file alone is a model for
panoptic_ros.runtime.load_runtime. cached_export(checkpoint, format, cache_dir, precision=, calibration=)
exports (and int8-quantizes, export/quantize.py) once per checkpoint.
"""
from .cache import cached_export, default_cache_dir
from .formats import EXPORT_PRECISIONS, FORMATS, export_model
from .onnx_export import export_onnx
from .openvino_export import export_openvino
from .sidecar import EXPORT_FORMAT_VERSION, read_export_sidecar

__all__ = ["EXPORT_FORMAT_VERSION", "EXPORT_PRECISIONS", "FORMATS", "cached_export", "default_cache_dir",
           "export_model", "export_onnx", "export_openvino", "read_export_sidecar"]
