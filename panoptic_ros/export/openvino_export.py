"""PanopticModel or .onnx -> OpenVINO IR (.xml + .bin), fp32 weights, sidecar embedded in its rt_info.

Converted from the ONNX export (one graph definition for both runtimes) with openvino.convert_model, saved
with compress_to_fp16=False: the weights stay fp32 and the inference precision is chosen when the model is
compiled (panoptic_ros.runtime.openvino_runtime), never baked into the file.
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from .common import import_package
from .onnx_export import export_onnx
from .sidecar import METADATA_KEY, read_export_sidecar, to_text, write_json

log = logging.getLogger(__name__)


def export_openvino(source, path: str | Path) -> Path:
    """Write ``source`` (a PanopticModel or an exported .onnx path) to ``path`` (.xml, with .bin and .json)."""
    ov = import_package("openvino", "OpenVINO export")
    path = Path(path)
    if path.suffix != ".xml":
        raise ValueError(f"{path}: an OpenVINO export is written as .xml (+ .bin)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="panoptic_export_") as tmp:
        if isinstance(source, (str, Path)):
            onnx_path = Path(source)
            if onnx_path.suffix != ".onnx":
                raise ValueError(f"{onnx_path}: OpenVINO export starts from a PanopticModel or an .onnx file")
        else:
            onnx_path = export_onnx(source, Path(tmp) / "model.onnx")
        sidecar = read_export_sidecar(onnx_path)
        sidecar["export"] = {**sidecar.get("export", {}), "format": "openvino"}
        ov_model = ov.convert_model(str(onnx_path))
        ov_model.set_rt_info(to_text(sidecar), [METADATA_KEY])
        ov.save_model(ov_model, str(path), compress_to_fp16=False)
    write_json(path, sidecar)
    log.info("exported OpenVINO IR (fp32 weights) to %s", path)
    return path

