"""load_runtime: every runtime gives forward_raw's outputs; runtime, device and precision are resolved by the
documented rules; what cannot run is a one-line error (missing package named, unsupported combination)."""
import re
import sys
from pathlib import Path

import pytest
import torch

from panoptic_ros.export import cache as export_cache
from panoptic_ros.registry import RUNTIMES
from panoptic_ros.runtime import (
    RuntimeNotInstalled,
    auto_runtime_order,
    available_runtimes,
    cpu,
    load_runtime,
    resolve_precision,
    resolve_runtime,
    torch_runtime,
)
from panoptic_ros.runtime.base import REQUIREMENTS

CPU = torch.device("cpu")
ROOT = Path(__file__).resolve().parents[2]


def test_the_three_runtimes_are_registered_by_name():
    assert {"torch", "onnxruntime", "openvino"} <= set(RUNTIMES.names())
    assert all(RUNTIMES.get(name).name == name for name in ("torch", "onnxruntime", "openvino"))
    assert available_runtimes() == {name: None for name in RUNTIMES.names()}  # all installed in the test env


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime", "openvino"])
def test_every_runtime_runs_a_model_instance_like_torch(runtime, tiny_model, images, raw_diff, torch_raw):
    reference = torch_raw(tiny_model, images)
    net = load_runtime(tiny_model, runtime=runtime, device="cpu", precision="fp32")
    out = net(images)
    assert (net.name, net.precision, net.device) == (runtime, "fp32", CPU)
    assert net.categories.names == ["disc", "box", "sky"] and net.cfg.model.backbone == "mobilenet_v3_small"
    assert out["semantic"].dtype == torch.float32 and out["semantic"].device == CPU
    assert raw_diff(out, reference) < 1e-3
    net.close()


def test_torch_runtime_uses_channels_last_and_frees_the_model_on_close(tiny_model, images):
    net = load_runtime(tiny_model, runtime="torch", device="cpu", precision="fp32")
    conv = next(m for m in net.model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3))
    assert net.channels_last and conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert net.model is tiny_model.inference_network()   # the cached BatchNorm-folded copy runs
    assert all(t.is_contiguous() for t in net(images)["cls_logits"])
    net.close()
    assert not hasattr(net, "model")


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("export_cache")


@pytest.mark.parametrize("runtime,export_format", [("onnxruntime", "onnx"), ("openvino", "openvino")])
def test_a_checkpoint_on_a_foreign_runtime_is_exported_once(runtime, export_format, tiny_checkpoint, shared_cache,
                                                            monkeypatch, images, raw_diff):
    """First load exports (openvino from the ONNX export, cached already when onnxruntime ran first), the second
    load reuses it."""
    calls = []
    real = export_cache.export_model
    monkeypatch.setattr(export_cache, "export_model", lambda s, f, o: calls.append(f) or real(s, f, o))
    first = load_runtime(tiny_checkpoint, runtime=runtime, device="cpu", precision="fp32", cache_dir=shared_cache)
    exported = list(calls)
    assert exported[-1:] == [export_format] and set(exported) <= {"onnx", export_format}
    second = load_runtime(tiny_checkpoint, runtime=runtime, device="cpu", precision="fp32", cache_dir=shared_cache)
    assert calls == exported  # nothing exported for the second load
    assert str(second.source) == str(tiny_checkpoint)
    assert raw_diff(first(images), second(images)) == 0.0


def test_auto_runtime_on_cpu_is_the_fastest_installed(fake_cpu_class, monkeypatch):
    fake_cpu_class("amx")
    assert auto_runtime_order(CPU) == ("openvino", "torch", "onnxruntime")  # native bf16 first
    assert resolve_runtime("auto", "cpu")[0].name == "openvino"
    fake_cpu_class("avx512_bf16")
    assert auto_runtime_order(CPU) == ("openvino", "onnxruntime", "torch")
    fake_cpu_class("avx2")
    assert auto_runtime_order(CPU) == ("onnxruntime", "openvino", "torch")  # int8 measured fastest there
    assert auto_runtime_order(torch.device("cuda")) == ("torch", "onnxruntime")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    assert resolve_runtime("auto", "cpu")[0].name == "openvino"
    monkeypatch.setitem(sys.modules, "openvino", None)
    assert resolve_runtime("auto", "cpu")[0].name == "torch"
    assert resolve_runtime("auto", "cpu", Path("m.safetensors"))[0].name == "torch"
    with pytest.raises(RuntimeNotInstalled, match="pip install openvino=="):  # only openvino reads .xml
        resolve_runtime("auto", "cpu", Path("m.xml"))


def test_auto_runtime_follows_the_file_type(tmp_path, fake_cpu_class):
    fake_cpu_class("amx")
    assert resolve_runtime("auto", "cpu", Path("m.onnx"))[0].name == "openvino"
    assert resolve_runtime("auto", "cpu", Path("m.safetensors"))[0].name == "openvino"
    assert resolve_runtime("auto", torch.device("cuda"), Path("m.onnx"))[0].name == "onnxruntime"
    onnx_path = tmp_path / "m.onnx"
    onnx_path.write_bytes(b"never read: the runtime is refused first")
    onnx_path.with_suffix(".json").write_text("{}")
    with pytest.raises(ValueError, match="runtime torch reads .safetensors, .pt, .pth files, not .onnx"):
        load_runtime(onnx_path, runtime="torch")
    with pytest.raises(ValueError, match="runtime onnxruntime reads .onnx"):
        load_runtime(onnx_path.with_suffix(".json"), runtime="onnxruntime")
    with pytest.raises(FileNotFoundError, match="model not found"):
        load_runtime(tmp_path / "missing.xml")


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_a_missing_runtime_package_is_one_line_naming_it(runtime, tiny_checkpoint, monkeypatch):
    monkeypatch.setitem(sys.modules, runtime, None)
    reason = RUNTIMES.get(runtime).unavailable_reason()
    assert reason.startswith(f"runtime {runtime} needs the {runtime} package: pip install {runtime}==")
    assert "\n" not in reason
    with pytest.raises(RuntimeNotInstalled) as info:
        load_runtime(tiny_checkpoint, runtime=runtime, device="cpu")
    assert str(info.value) == reason and isinstance(info.value, ValueError)
    assert available_runtimes()[runtime] == reason


@pytest.mark.parametrize("cpu_class", ["avx2", "avx512_vnni", "amx"])
@pytest.mark.parametrize("runtime,device,precision,message", [
    ("torch", CPU, "fp16", "torch fp16 runs on CUDA only"),
    ("onnxruntime", CPU, "bf16", "runs fp32 or int8 on CPU"),
    ("onnxruntime", CPU, "fp16", "fp16 needs CUDA"),
    ("openvino", torch.device("cuda"), "fp32", "runtime openvino runs on cpu, not cuda"),
    ("torch", CPU, "int8", "runtime torch has no int8 mode; int8 is offered by runtime onnxruntime, openvino"),
    ("torch", CPU, "int4", "unknown precision 'int4'"),
    ("tensorflow", CPU, "fp32", "unknown runtime 'tensorflow'"),
])
def test_unsupported_combinations_are_one_line_value_errors(runtime, device, precision, message, cpu_class,
                                                            fake_cpu_class):
    fake_cpu_class(cpu_class)
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        resolve_precision(runtime, device, precision)
    assert "\n" not in str(info.value)


def test_reduced_precision_only_where_the_cpu_has_it(fake_cpu_class):
    fake_cpu_class("amx")  # OpenVINO lists FP16 there, but without AMX-FP16 it is emulated
    with pytest.raises(ValueError, match="no native fp16 compute"):
        resolve_precision("openvino", "cpu", "fp16")
    fake = fake_cpu_class("amx", flags={"amx_fp16"})
    assert fake.native_fp16 and resolve_precision("openvino", "cpu", "fp16") == "fp16"
    fake_cpu_class("avx2")
    for runtime in ("torch", "openvino"):
        with pytest.raises(ValueError, match="no bf16"):
            resolve_precision(runtime, "cpu", "bf16")
        assert resolve_precision(runtime, "cpu", "fp32") == "fp32"
    with pytest.raises(ValueError) as info:
        resolve_precision("openvino", "cpu", "bf16")
    assert "offered by" not in str(info.value)  # no runtime offers bf16 on this class
    fake_cpu_class("amx")
    assert resolve_precision("torch", "cpu", "bf16") == resolve_precision("openvino", "cpu", "bf16") == "bf16"


def test_auto_precision_is_bf16_only_on_cpus_that_run_it_natively(fake_cpu_class):
    fake_cpu_class("amx")
    assert [resolve_precision(r, "cpu", "auto") for r in ("torch", "onnxruntime", "openvino")] == [
        "bf16", "fp32", "bf16"]
    fake_cpu_class("avx512_bf16")  # no AMX: torch bf16 was not measured faster, OpenVINO bf16 was
    assert [resolve_precision(r, "cpu", "auto") for r in ("torch", "onnxruntime", "openvino")] == [
        "fp32", "fp32", "bf16"]
    fake_cpu_class("avx512")  # int8 unmeasured without VNNI: fp32
    assert [resolve_precision(r, "cpu", "auto") for r in ("torch", "onnxruntime", "openvino")] == [
        "fp32", "fp32", "fp32"]
    fake_cpu_class("avx512_vnni")  # int8 measured faster there (openvino 2.1x fp32) and within the criterion
    assert [resolve_precision(r, "cpu", "auto") for r in ("torch", "onnxruntime", "openvino")] == [
        "fp32", "int8", "int8"]
    fake_cpu_class("avx2")  # int8 measured faster and within the agreement criterion
    assert [resolve_precision(r, "cpu", "auto") for r in ("torch", "onnxruntime", "openvino")] == [
        "fp32", "int8", "int8"]
    assert torch_runtime.TorchRuntime.auto_precision(torch.device("cuda")) == "fp16"


def test_auto_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # device auto: CUDA only for CUDA runtimes
    assert resolve_runtime("openvino", "auto")[1] == CPU
    assert resolve_runtime("torch", "auto")[1] == torch.device("cuda")


def test_bf16_runs_where_supported(tiny_model, images, raw_diff, torch_raw):
    """Reduced precision really runs (and differs from fp32 a little, not arbitrarily)."""
    if not cpu.cpu_info().torch_bf16:
        pytest.skip("no bf16 on this CPU (oneDNN needs AVX-512 or ARM bf16)")
    reference = torch_raw(tiny_model, images[:1])
    out = load_runtime(tiny_model, runtime="torch", device="cpu", precision="bf16")(images[:1])
    assert out["semantic"].dtype == torch.float32
    assert 1e-4 < raw_diff(out, reference) < 5.0


def test_pinned_requirements_match_the_install_hints():
    pins = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    for package, hint in REQUIREMENTS.items():
        assert hint.split()[0] == f"{package}=={pins[package]}"


def test_runtime_modules_import_without_onnxruntime_and_openvino(tmp_path):
    """The config layer imports the three runtime modules to validate inference.runtime: they must import
    (and report what to install) on a machine without the optional packages."""
    import os
    import subprocess

    code = (
        "import sys\n"
        "for name in ('onnxruntime', 'openvino', 'onnx'): sys.modules[name] = None\n"
        "from panoptic_ros.config import PanopticConfig, set_value\n"
        "cfg = PanopticConfig(); set_value(cfg, 'inference.runtime', 'openvino')\n"
        "from panoptic_ros.runtime import available_runtimes\n"
        "r = available_runtimes(); assert r['torch'] is None, r\n"
        "print(r['onnxruntime']); print(r['openvino'])\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "runtime onnxruntime needs the onnxruntime package: pip install " + REQUIREMENTS["onnxruntime"],
        "runtime openvino needs the openvino package: pip install " + REQUIREMENTS["openvino"]]
