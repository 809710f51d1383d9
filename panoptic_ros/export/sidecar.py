"""The model description carried inside exported files, so an .onnx or OpenVINO .xml alone is a loadable model.

An export holds the checkpoint sidecar ({"format", "config", "categories", "extra"}, see
modeling/checkpoint.py) plus an "export" entry (format version, output names, tool versions). It is written
twice: inside the file (ONNX metadata_props / OpenVINO rt_info, key "panoptic_ros") and as a .json next to it
(readable by people and by load_checkpoint-style tools). Reading prefers the embedded copy.
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from ..config import to_dict
from ..modeling.checkpoint import FORMAT
from ..utils import json_io
from .common import import_package
from .mask_head import mask_head_description

METADATA_KEY = "panoptic_ros"
# Bump when the exported graph or its embedded description changes meaning (invalidates cached exports).
# 2: the RoI mask head's pyramid features are outputs and its FCN is embedded ("mask_head").
EXPORT_FORMAT_VERSION = 2
EXPORT_SUFFIXES = (".onnx", ".xml")


def model_sidecar(model, output_names: list[str], export_format: str) -> dict:
    """The sidecar of a PanopticModel's export: its config, categories, checkpoint extra and export facts."""
    side = {"format": FORMAT, "config": to_dict(model.cfg), "categories": model.categories.to_list(),
            "extra": getattr(model, "checkpoint_extra", None) or {},
            "export": {"format": export_format, "format_version": EXPORT_FORMAT_VERSION,
                       "outputs": list(output_names), "versions": tool_versions()}}
    side = json_io.to_jsonable(side)  # plain JSON types only
    mask_head = mask_head_description(model)
    if mask_head is not None:
        side["mask_head"] = mask_head
    return side


def tool_versions() -> dict[str, str]:
    """Versions of the tools an export depends on (torch, onnx, openvino, and the int8 quantizers onnxruntime
    and nncf; 'none' when not installed)."""
    from importlib import metadata

    versions = {}
    for dist in ("torch", "onnx", "openvino", "onnxruntime", "nncf"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "none"
    return versions


def to_text(sidecar: dict) -> str:
    """The compact JSON stored inside an exported file."""
    return json.dumps(sidecar, separators=(",", ":"))


def write_json(path: str | Path, sidecar: dict) -> Path:
    """The human-readable copy next to an exported file (model.onnx -> model.json)."""
    side = Path(path).with_suffix(".json")
    readable = dict(sidecar)
    if "mask_head" in readable:  # its weights stay in the model file only (base64 is not for people)
        readable["mask_head"] = {k: v for k, v in readable["mask_head"].items() if k != "weights"}
        readable["mask_head"]["weights"] = "embedded in the model file"
    json_io.write_json(side, readable)
    return side


def read_export_sidecar(path: str | Path) -> dict:
    """The sidecar of an exported .onnx / .xml: the embedded copy, else the .json next to it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"exported model not found: {path}")
    if path.suffix not in EXPORT_SUFFIXES:
        raise ValueError(f"{path}: not an exported model (expected {' or '.join(EXPORT_SUFFIXES)})")
    text = _embedded_text(path)
    if text is None:
        side = path.with_suffix(".json")
        if not side.is_file():
            raise ValueError(f"{path}: carries no panoptic_ros description (not exported by `panoptic export`?) "
                             f"and {side.name} is missing")
        text = side.read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: its panoptic_ros description is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or "config" not in data or "categories" not in data:
        raise ValueError(f"{path}: its panoptic_ros description lacks 'config' / 'categories'")
    return data


def _embedded_text(path: Path) -> str | None:
    if path.suffix == ".onnx":
        onnx = import_package("onnx", "reading an .onnx model")
        try:
            proto = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # protobuf DecodeError and friends
            raise ValueError(f"{path}: not a valid ONNX file (corrupt or truncated?): {exc}") from None
        return next((p.value for p in proto.metadata_props if p.key == METADATA_KEY), None)
    try:  # OpenVINO IR: <net><rt_info><panoptic_ros value="..."/></rt_info></net>
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"{path}: not a valid OpenVINO IR .xml (corrupt or truncated?): {exc}") from None
    node = root.find(f"rt_info/{METADATA_KEY}")
    return None if node is None else node.get("value")
