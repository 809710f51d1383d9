"""Fixtures of the export tests: the shipped model exported once (ONNX + OpenVINO) and a tiny checkpoint (the
output comparison fixtures raw_diff / torch_raw live in test/conftest.py)."""
from pathlib import Path

import pytest
import torch

import panoptic_ros
from panoptic_ros.config import load_config
from panoptic_ros.data.categories import Category, CategoryMap

SMOKE = Path(panoptic_ros.__file__).parent / "configs" / "smoke.yaml"


@pytest.fixture(scope="module")
def shipped():
    from panoptic_ros.modeling import default_model_path, load_checkpoint
    return load_checkpoint(default_model_path(), device="cpu")


@pytest.fixture(scope="module")
def shipped_exports(shipped, tmp_path_factory):
    """{"onnx": Path, "openvino": Path} of the shipped model, exported once per module."""
    from panoptic_ros.export import export_onnx, export_openvino

    out = tmp_path_factory.mktemp("shipped_export")
    onnx_path = export_onnx(shipped, out / "shipped.onnx")
    return {"onnx": onnx_path, "openvino": export_openvino(onnx_path, out / "shipped.xml")}


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """The smoke config on mobilenet_v3_small (1.1M parameters; 2 thing + 1 stuff classes, random weights)."""
    from panoptic_ros.modeling import build_model, save_checkpoint

    torch.manual_seed(0)
    categories = CategoryMap([Category(1, "disc", True), Category(2, "box", True), Category(3, "sky", False)])
    model = build_model(load_config(SMOKE, ["model.backbone=mobilenet_v3_small"]), categories).eval()
    return save_checkpoint(tmp_path_factory.mktemp("tiny") / "tiny.safetensors", model)

