"""One entry point for every export format: a model or a model file in, an exported file out."""
from __future__ import annotations

from pathlib import Path

from ..modeling.checkpoint import load_checkpoint
from . import quantize
from .onnx_export import export_onnx
from .openvino_export import export_openvino

# format name -> suffix of the file that names the export (OpenVINO writes a .bin beside the .xml)
FORMATS = {"onnx": ".onnx", "openvino": ".xml"}


EXPORT_PRECISIONS = ("fp32", "int8")


def export_model(source, export_format: str, out: str | Path, *, precision: str = "fp32",
                 calibration: str | Path = "") -> Path:
    """Export ``source`` to ``out`` in ``export_format`` (onnx | openvino); returns the written path.

    source: a PanopticModel, a checkpoint path (.safetensors / .pt / .pth with its .json), or an exported fp32
    .onnx (for openvino, or to quantize it). precision: fp32 (weights as trained; bf16 / fp16 are chosen when a
    runtime compiles the file) or int8 (post-training quantization calibrated on ``calibration``, a folder of
    images; "" = the default synthetic set; see export/quantize.py).
    """
    if precision not in EXPORT_PRECISIONS:
        raise ValueError(f"an export is written in {' or '.join(EXPORT_PRECISIONS)}, not {precision!r} (bf16 and "
                         "fp16 are chosen when a runtime loads the fp32 export)")
    if precision == "int8":
        return _export_int8(source, export_format, Path(out), calibration)
    if export_format not in FORMATS:
        raise ValueError(f"unknown export format {export_format!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out)
    if out.suffix != FORMATS[export_format]:
        raise ValueError(f"{out}: {export_format} exports are written as {FORMATS[export_format]} files")
    if isinstance(source, (str, Path)):
        source = Path(source)
        if not source.is_file():
            raise FileNotFoundError(f"model not found: {source}")
        if source.suffix in (".onnx", ".xml"):
            if quantize.is_int8(source):
                raise ValueError(f"{source} is already int8-quantized; export from the checkpoint")
            if export_format == "openvino" and source.suffix == ".onnx":
                return export_openvino(source, out)
            raise ValueError(f"{source}: an exported {source.suffix} model cannot be exported to {export_format}; "
                             "export from the checkpoint (.safetensors)")
        source = load_checkpoint(source, device="cpu")
    return export_onnx(source, out) if export_format == "onnx" else export_openvino(source, out)


def _export_int8(source, export_format: str, out: Path, calibration: str | Path) -> Path:
    """fp32 export in a temporary folder, then quantized into ``out`` (export/quantize.py)."""
    import tempfile

    if export_format not in FORMATS:
        raise ValueError(f"unknown export format {export_format!r}; choose one of {', '.join(FORMATS)}")
    if out.suffix != FORMATS[export_format]:
        raise ValueError(f"{out}: {export_format} exports are written as {FORMATS[export_format]} files")
    with tempfile.TemporaryDirectory(prefix="panoptic_int8_") as tmp:
        fp32 = export_model(source, export_format, Path(tmp) / f"fp32{FORMATS[export_format]}")
        quantizer = quantize.quantize_onnx if export_format == "onnx" else quantize.quantize_openvino
        return quantizer(fp32, out, calibration)
