"""runtime.cpu: the one place capability queries go through, the per-class auto plan, and the thread count each
runtime applies. Every verdict here comes from faked CPU classes, so it is the same on any host."""
import json

import pytest
import torch

from panoptic_ros.runtime import cpu, load_runtime, resolve_precision


@pytest.mark.parametrize("cpu_class,order,precisions", [
    ("avx2", ("onnxruntime", "openvino", "torch"), {"onnxruntime": "int8", "openvino": "int8", "torch": "fp32"}),
    ("avx512_vnni", ("openvino", "onnxruntime", "torch"), {"onnxruntime": "int8", "openvino": "int8", "torch": "fp32"}),
    ("avx512", ("onnxruntime", "openvino", "torch"), {"onnxruntime": "fp32", "openvino": "fp32", "torch": "fp32"}),
    ("amx", ("openvino", "torch", "onnxruntime"), {"onnxruntime": "fp32", "openvino": "bf16", "torch": "bf16"}),
])
def test_auto_plan_per_cpu_class(cpu_class, order, precisions, fake_cpu_class):
    info = fake_cpu_class(cpu_class)
    assert info.cpu_class == cpu_class
    plan = cpu.auto_plan(info)
    assert plan.order == order and plan.precision == precisions
    for runtime, precision in precisions.items():  # what precision auto resolves to, through the runtimes
        assert resolve_precision(runtime, "cpu", "auto") == precision


def test_bf16_in_the_plan_needs_the_capability():
    """A class row says bf16, but a CPU whose OpenVINO / oneDNN does not list it gets fp32 (never a refusal)."""
    from dataclasses import replace

    amx = cpu.fake_cpu("amx")
    plan = cpu.auto_plan(replace(amx, openvino=("FP32", "INT8"), torch_bf16=False))
    assert plan.precision == {"openvino": "fp32", "torch": "fp32", "onnxruntime": "fp32"}


def test_cpu_classes_from_flags():
    assert cpu.CpuInfo(flags=frozenset({"avx2", "fma"})).cpu_class == "avx2"
    assert cpu.CpuInfo(flags=frozenset({"avx2", "avx512f"})).cpu_class == "avx512"
    assert cpu.CpuInfo(flags=frozenset({"avx512f", "avx512_vnni"})).cpu_class == "avx512_vnni"
    assert cpu.CpuInfo(flags=frozenset({"avx512f", "avx512_bf16"})).cpu_class == "avx512_bf16"
    assert cpu.CpuInfo(flags=frozenset({"avx512f", "amx_tile", "amx_bf16"})).cpu_class == "amx"
    assert cpu.CpuInfo().cpu_class == "other"


def test_the_host_is_described_for_benchmark_json():
    """detect_cpu on the real host: whatever it is, the JSON names the model and every relevant flag."""
    info = cpu.detect_cpu()
    data = json.loads(json.dumps(info.to_json()))
    assert data["model"] and data["cpu_class"] in cpu.PLANS
    assert set(data["flags"]) == set(cpu.FLAGS) and all(isinstance(v, bool) for v in data["flags"].values())


def test_thread_count():
    assert cpu.thread_count(3) == 3
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert cpu.thread_count(0) == 1  # 0 = the process's setting, the same for every runtime
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="num_threads must be 0"):
        cpu.thread_count(-1)


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime", "openvino"])
def test_each_runtime_applies_the_configured_thread_count(runtime, tiny_model):
    before = torch.get_num_threads()
    try:
        net = load_runtime(tiny_model, runtime=runtime, device="cpu", precision="fp32", num_threads=1)
        assert net.num_threads == 1
        if runtime == "torch":
            assert torch.get_num_threads() == 1
        elif runtime == "onnxruntime":
            options = net.session.get_session_options()
            assert options.intra_op_num_threads == 1
            assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
        else:
            assert net.compiled.get_property("INFERENCE_NUM_THREADS") == 1
            assert net.compiled.get_property("NUM_STREAMS") == 1
            assert net.compiled.get_property("ENABLE_CPU_PINNING") is False
        net.close()
    finally:
        torch.set_num_threads(before)
