"""What this CPU is, asked in ONE place, and the auto rules that follow from it.

Every capability query of the package (``/proc/cpuinfo`` flags, torch's oneDNN / AMX checks, OpenVINO's
OPTIMIZATION_CAPABILITIES) happens in detect_cpu(); everything else reads the CpuInfo it returns through
cpu_info(). A test fakes a CPU class by replacing cpu_info (fake_cpu() builds consistent ones), so runtime
auto, precision auto and the refusal messages give the same verdict on every host.

auto_plan(info) turns a CpuInfo into runtime auto's order and each runtime's auto precision, from the table
PLANS (per CPU class; the measurements behind it are in runtime/loading.py's docstring).
"""
from __future__ import annotations

import functools
import platform
from dataclasses import asdict, dataclass, field

# flags of /proc/cpuinfo that decide speed here (x86 names; ARM reports its own and they stay False)
FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16")


@dataclass(frozen=True)
class CpuInfo:
    """The CPU as the runtimes see it: model name, the FLAGS, oneDNN bf16 support and OpenVINO's capabilities."""

    model: str = "unknown"
    machine: str = "x86_64"
    flags: frozenset = frozenset()
    torch_bf16: bool = False             # oneDNN runs bf16 at all (AVX-512 core: emulated; AVX512_BF16/AMX: native)
    openvino: tuple = ("FP32",)          # OpenVINO CPU OPTIMIZATION_CAPABILITIES (() when openvino is missing)

    def has(self, flag: str) -> bool:
        return flag in self.flags

    @property
    def cpu_class(self) -> str:
        """amx | avx512_bf16 | avx512_vnni | avx512 | avx2 | other (the rows of PLANS)."""
        if self.has("amx_bf16") or self.has("amx_tile"):
            return "amx"
        for name in ("avx512_bf16", "avx512_vnni", "avx512f", "avx2"):
            if self.has(name):
                return name.replace("avx512f", "avx512")
        return "other"

    @property
    def native_fp16(self) -> bool:
        """ARM (fp16 arithmetic) or x86 AMX-FP16: where fp16 inference can beat fp32."""
        return self.machine.lower() in ("aarch64", "arm64") or self.has("amx_fp16")

    def to_json(self) -> dict:
        """For benchmark JSON: model, class and each relevant flag (True / False)."""
        d = asdict(self)
        d["flags"] = {f: f in self.flags for f in FLAGS}
        d["openvino"] = list(self.openvino)
        d["cpu_class"] = self.cpu_class
        return d


@dataclass(frozen=True)
class AutoPlan:
    """runtime auto's order on a CPU (fastest first) and precision auto per runtime there."""

    order: tuple[str, ...]
    precision: dict = field(default_factory=dict)


# CPU class -> ((runtime, auto precision), ...) fastest first; what it rests on: runtime/loading.py.
# int8 only where it was measured faster than fp32 and within the agreement rule (AVX2, AVX-512 VNNI);
# unmeasured classes keep their measured fp32 / bf16 choice.
PLANS = {
    "amx": (("openvino", "bf16"), ("torch", "bf16"), ("onnxruntime", "fp32")),
    "avx512_bf16": (("openvino", "bf16"), ("onnxruntime", "fp32"), ("torch", "fp32")),
    "avx512_vnni": (("openvino", "int8"), ("onnxruntime", "int8"), ("torch", "fp32")),
    "avx512": (("onnxruntime", "fp32"), ("openvino", "fp32"), ("torch", "fp32")),
    "avx2": (("onnxruntime", "int8"), ("openvino", "int8"), ("torch", "fp32")),
    "other": (("onnxruntime", "fp32"), ("openvino", "fp32"), ("torch", "fp32")),
}


def auto_plan(info: CpuInfo) -> AutoPlan:
    """The ONE decision of runtime auto order and precision auto on a CPU: PLANS' row for info.cpu_class,
    with bf16 kept only where OpenVINO lists BF16 and oneDNN runs it (else that runtime falls back to fp32)."""
    rows = []
    for runtime, precision in PLANS[info.cpu_class]:
        if precision == "bf16" and not (("BF16" in info.openvino) if runtime == "openvino" else info.torch_bf16):
            precision = "fp32"
        rows.append((runtime, precision))
    return AutoPlan(tuple(r for r, _ in rows), dict(rows))


@functools.cache
def cpu_info() -> CpuInfo:
    """This host's CpuInfo (detected once). Tests replace this function (monkeypatch) to fake a CPU."""
    return detect_cpu()


def detect_cpu() -> CpuInfo:
    """Ask the host: /proc/cpuinfo (model, flags), torch (oneDNN bf16, AMX), OpenVINO (capabilities)."""
    import torch

    model, flags = _proc_cpuinfo()
    checks = {"avx2": "_is_avx2_supported", "avx512f": "_is_avx512_supported", "avx512_vnni": "_is_vnni_supported",
              "avx512_bf16": "_is_avx512_bf16_supported", "amx_tile": "_is_amx_tile_supported",
              "amx_fp16": "_is_amx_fp16_supported"}
    for flag, check in checks.items():  # torch's own checks also cover hosts without /proc/cpuinfo
        fn = getattr(torch.cpu, check, None)
        if fn is not None and fn():
            flags.add(flag)
    return CpuInfo(model=model or platform.processor() or "unknown", machine=platform.machine(),
                   flags=frozenset(f for f in flags if f in FLAGS),
                   torch_bf16=bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()), openvino=_openvino_capabilities())


def _proc_cpuinfo() -> tuple[str, set]:
    model, flags = "", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return model, flags


def _openvino_capabilities() -> tuple:
    try:
        import openvino as ov
    except ImportError:
        return ()
    return tuple(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def fake_cpu(cpu_class: str, model: str = "") -> CpuInfo:
    """A consistent CpuInfo of a CPU class (for tests and what-if questions): avx2 | avx512_vnni | amx | ..."""
    flags = {"avx2": {"avx2", "fma"}, "avx512": {"avx2", "fma", "avx512f"},
             "avx512_vnni": {"avx2", "fma", "avx512f", "avx512_vnni"},
             "avx512_bf16": {"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16"},
             "amx": {"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"},
             "other": set()}[cpu_class]
    avx512 = "avx512f" in flags
    openvino = ("FP32", "BF16", "FP16", "INT8") if avx512 else ("FP32", "INT8")
    if cpu_class in ("avx512", "avx512_vnni"):
        openvino = ("FP32", "FP16", "INT8")
    return CpuInfo(model=model or f"fake {cpu_class} CPU", flags=frozenset(flags), torch_bf16=avx512,
                   openvino=openvino)


def thread_count(requested: int = 0) -> int:
    """inference.num_threads -> the thread count every runtime uses: ``requested``, or 0 = the process's torch
    intra-op thread count, which is all physical cores the process may use unless the process set it
    (torch.set_num_threads, e.g. a benchmark's --threads): the same number for torch, onnxruntime and openvino."""
    import torch

    if requested < 0:
        raise ValueError(f"num_threads must be 0 (all cores) or positive, got {requested}")
    return int(requested) if requested else torch.get_num_threads()
