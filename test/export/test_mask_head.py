"""mask_heuristic on exported runtimes: the export carries the RoI mask head's pyramid features as outputs and its
small FCN embedded, so onnxruntime and openvino compute the same mask logits as torch from the file alone."""
import pytest
import torch

from panoptic_ros.export import read_export_sidecar
from panoptic_ros.runtime import load_runtime

RUNTIME_FORMATS = [("onnxruntime", "onnx"), ("openvino", "openvino")]


@pytest.mark.parametrize("runtime,export_format", RUNTIME_FORMATS)
def test_exported_mask_logits_equal_torch(shipped, shipped_exports, runtime, export_format):
    if "mask_head" not in shipped.heads():
        pytest.skip("the shipped model has no RoI mask head")
    net = load_runtime(shipped_exports[export_format], runtime=runtime, device="cpu", precision="fp32")
    assert "features" in net.optional_outputs()
    images = torch.randn(1, 3, 192, 256, generator=torch.Generator().manual_seed(3))
    assert "features" not in net(images)  # fetched only when a policy asks
    raw = net(images, optional=("features",))
    with torch.no_grad():
        reference = shipped.forward_raw(images, optional=("features",))
    assert len(raw["features"]) == len(reference["features"])
    for ours, theirs in zip(raw["features"], reference["features"]):
        assert (ours - theirs).abs().max() < 1e-3
    boxes = [torch.tensor([[10.0, 12.0, 90.0, 80.0], [100.0, 20.0, 250.0, 190.0], [0.0, 0.0, 31.0, 17.0]])]
    with torch.no_grad():
        expected = shipped.mask_logits(reference["features"], boxes, (192, 256))
    logits = net.mask_logits(raw["features"], boxes, (192, 256))
    assert logits.shape == expected.shape and logits.dtype == torch.float32
    assert (logits - expected).abs().max() < 1e-3


def test_the_mask_head_weights_stay_in_the_model_file(shipped_exports):
    import json

    readable = json.loads(shipped_exports["onnx"].with_suffix(".json").read_text())
    embedded = read_export_sidecar(shipped_exports["onnx"])
    if "mask_head" not in embedded:
        pytest.skip("the shipped model has no RoI mask head")
    assert readable["mask_head"]["weights"] == "embedded in the model file"
    assert len(embedded["mask_head"]["weights"]) > 1000


def test_an_export_without_mask_head_offers_no_features(tiny_checkpoint, tmp_path):
    net = load_runtime(tiny_checkpoint, runtime="onnxruntime", device="cpu", precision="fp32", cache_dir=tmp_path)
    assert "features" not in net.optional_outputs()
    with pytest.raises(ValueError, match="carries no RoI mask head"):
        net.mask_logits([], [torch.zeros(1, 4)], (128, 128))
