"""CUDA paths (fp16 autocast, channels_last, warm-up, onnxruntime CUDA / TensorRT providers); skipped without
a GPU. tools/gpu_check.sh runs them on a machine with one."""
import pytest
import torch

from panoptic_ros.runtime import load_runtime

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _argmax_agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.argmax(1).cpu() == b.argmax(1).cpu()).float().mean())


def test_torch_cuda_defaults_to_fp16_with_channels_last_and_warm_up(tiny_model, images, torch_raw):
    reference = torch_raw(tiny_model, images)
    net = load_runtime(tiny_model, runtime="torch", device="cuda")
    assert (net.precision, net.device.type, net.channels_last) == ("fp16", "cuda", True)
    assert tiny_model._warm == (str(net.device), "fp16", True)
    conv = next(m for m in tiny_model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3))
    assert conv.weight.is_cuda and conv.weight.is_contiguous(memory_format=torch.channels_last)
    out = net(images)
    assert out["semantic"].dtype == torch.float32 and out["semantic"].is_cuda
    assert _argmax_agreement(out["semantic"], reference["semantic"]) > 0.99
    net.close()


def test_torch_cuda_fp32_is_fp32(tiny_model, images, raw_diff, torch_raw):
    reference = torch_raw(tiny_model, images)
    net = load_runtime(tiny_model, runtime="torch", device="cuda", precision="fp32")
    assert raw_diff(net(images), reference) < 1e-3  # no TF32 convolutions


def test_onnxruntime_cuda_provider(tiny_checkpoint, tmp_path, images, raw_diff, torch_raw):
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime without CUDA provider (pip install onnxruntime-gpu)")
    from panoptic_ros.modeling import load_checkpoint

    reference = torch_raw(load_checkpoint(tiny_checkpoint), images)
    net = load_runtime(tiny_checkpoint, runtime="onnxruntime", device="cuda", precision="fp32", cache_dir=tmp_path)
    assert net.providers[0] in ("TensorrtExecutionProvider", "CUDAExecutionProvider")
    out = net(images)
    assert out["semantic"].is_cuda
    tolerance = 1e-3 if net.providers[0] == "CUDAExecutionProvider" else 5e-2  # TensorRT may use TF32
    assert raw_diff(out, reference) < tolerance


def test_shipped_model_agrees_on_cuda(raw_diff, torch_raw):
    """The shipped model: torch fp32 on CUDA equals CPU eager within 1e-3; fp16 keeps the semantic argmax."""
    from panoptic_ros.modeling import default_model_path, load_checkpoint

    images = torch.randn(1, 3, 256, 352, generator=torch.Generator().manual_seed(0))
    reference = torch_raw(load_checkpoint(default_model_path()), images)
    fp32 = load_runtime(default_model_path(), runtime="torch", device="cuda", precision="fp32")
    assert raw_diff(fp32(images), reference) < 1e-3
    fp16 = load_runtime(default_model_path(), runtime="torch", device="cuda", precision="fp16")
    assert _argmax_agreement(fp16(images)["semantic"], reference["semantic"]) > 0.999
