"""One entry point for every export format: a model or a model file in, an exported file out."""
from __future__ import annotations

from pathlib import Path

# format name -> suffix of the file that names the export (OpenVINO writes a .bin beside the .xml)
FORMATS = {"onnx": ".onnx", "openvino": ".xml"}


def export_model(source, export_format: str, out: str | Path) -> Path:
    """Export ``source`` to ``out`` in ``export_format`` (onnx | openvino); returns the written path.

    source: a PanopticModel, a checkpoint path (.safetensors / .pt / .pth with its .json), or for openvino
    also an exported .onnx.
    """
    from .onnx_export import export_onnx
    from .openvino_export import export_openvino

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
            if export_format == "openvino" and source.suffix == ".onnx":
                return export_openvino(source, out)
            raise ValueError(f"{source}: an exported {source.suffix} model cannot be exported to {export_format}; "
                             "export from the checkpoint (.safetensors)")
        from ..modeling.checkpoint import load_checkpoint
        source = load_checkpoint(source, device="cpu")
    return export_onnx(source, out) if export_format == "onnx" else export_openvino(source, out)
