"""The exported shipped model computes what torch computes: ONNX Runtime and OpenVINO fp32 raw outputs equal
torch eager within 1e-3 at two image sizes (dynamic H/W and batch), from the exported file alone."""
import shutil

import pytest
import torch

from panoptic_ros.config import to_dict
from panoptic_ros.export import read_export_sidecar
from panoptic_ros.export.outputs import output_names
from panoptic_ros.runtime import load_runtime

# (batch, H, W): multiples of the shipped model's size_divisibility (32), neither one the traced export size
SIZES = [(2, 128, 160), (1, 192, 256)]
RUNTIME_FORMATS = [("onnxruntime", "onnx"), ("openvino", "openvino")]


def _images(batch, height, width, seed=0):
    return torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("runtime,export_format", RUNTIME_FORMATS)
def test_exported_fp32_equals_torch_at_two_sizes(shipped, shipped_exports, runtime, export_format, raw_diff,
                                                 torch_raw):
    net = load_runtime(shipped_exports[export_format], runtime=runtime, device="cpu", precision="fp32")
    assert (net.name, net.precision, net.device) == (runtime, "fp32", torch.device("cpu"))
    for batch, height, width in SIZES:
        images = _images(batch, height, width)
        out = net(images)
        assert out["semantic"].shape[:2] == (batch, len(shipped.categories))
        assert all(t.dtype == torch.float32 for t in out["cls_logits"] + [out["semantic"], out["offsets"]])
        assert raw_diff(out, torch_raw(shipped, images)) < 1e-3, (runtime, batch, height, width)


def test_openvino_runs_the_precision_it_is_given(shipped, shipped_exports, raw_diff, torch_raw):
    """fp32 agrees with torch to 1e-3 and bf16 does not: the precision hint is applied (OpenVINO's own default
    on a bf16-capable CPU is bf16)."""
    from panoptic_ros.runtime.cpu import cpu_info
    from panoptic_ros.runtime.openvino_runtime import core

    if "BF16" not in cpu_info().openvino:
        pytest.skip("this CPU has no bf16 in OpenVINO: fp32 is its only precision")
    default = core().compile_model(str(shipped_exports["openvino"]), "CPU")
    assert str(default.get_property("INFERENCE_PRECISION_HINT")) == "<Type: 'bfloat16'>"  # why the hint is needed
    images = _images(1, 192, 256, seed=1)
    reference = torch_raw(shipped, images)
    diffs = {p: raw_diff(load_runtime(shipped_exports["openvino"], runtime="openvino", device="cpu",
                                      precision=p)(images), reference) for p in ("fp32", "bf16")}
    assert diffs["fp32"] < 1e-3 < diffs["bf16"], diffs


@pytest.mark.parametrize("runtime,export_format", RUNTIME_FORMATS)
def test_an_exported_file_alone_is_a_model(shipped, shipped_exports, runtime, export_format, tmp_path, raw_diff,
                                           torch_raw):
    source = shipped_exports[export_format]
    alone = tmp_path / source.name
    shutil.copy(source, alone)
    if export_format == "openvino":
        shutil.copy(source.with_suffix(".bin"), alone.with_suffix(".bin"))
    assert source.with_suffix(".json").is_file() and not alone.with_suffix(".json").exists()

    side = read_export_sidecar(alone)  # embedded copy, equal to the .json written next to the export
    assert side == read_export_sidecar(source) and side["config"] == to_dict(shipped.cfg)
    images = _images(1, 128, 160, seed=2)
    reference = torch_raw(shipped, images)
    with torch.inference_mode():   # the export carries every optional output, the mask head's features included
        every_output = shipped.forward_raw(images, optional=("levelness", "borderness", "features"))
    assert side["export"]["outputs"] == output_names(every_output)

    net = load_runtime(alone, runtime=runtime, device="cpu", precision="fp32")
    assert to_dict(net.cfg) == to_dict(shipped.cfg)
    assert net.categories.to_list() == shipped.categories.to_list()
    assert raw_diff(net(images), reference) < 1e-3


def test_the_json_next_to_an_export_is_used_when_nothing_is_embedded(shipped_exports, tmp_path):
    import onnx

    proto = onnx.load(str(shipped_exports["onnx"]))
    del proto.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(proto, str(bare))
    with pytest.raises(ValueError, match="carries no panoptic_ros description"):
        read_export_sidecar(bare)
    shutil.copy(shipped_exports["onnx"].with_suffix(".json"), bare.with_suffix(".json"))
    assert read_export_sidecar(bare)["categories"] == read_export_sidecar(shipped_exports["onnx"])["categories"]
