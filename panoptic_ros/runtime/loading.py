"""load_runtime: one call from any model source to a ready network runtime, with runtime, device and
precision resolved by rules that are written down here instead of left to each runtime's defaults.

Measured on this machine (Xeon with AVX-512 BF16 + AMX, 2 cores shared with other jobs, torch 2 threads; network
only, median ms; max abs = largest difference to torch eager fp32 over all outputs):

    shipped model, 256x352             ms   speed-up  max abs | research size (R50, FPN 256, 133 cl.), 576x864
    torch eager fp32 (NCHW)           51     1.00     0       | 1134   1.00   0
    torch channels_last fp32          40     1.29     9e-5    | 1075   1.06   4e-4
    torch channels_last bf16 autocast 25     2.06     0.76    |  395   2.87   1.4
    onnxruntime fp32                  33     1.53     6e-5    |  883*  1.28   2e-4
    openvino fp32                     47     1.09     9e-5    |  853*  1.33   4e-4
    openvino bf16                     11     4.7      0.42    |  318   3.6    1.2
    (* research-size fp32 rows: fastest of 5 runs; their medians were disturbed by other jobs on the 2 cores)

Agreement through the whole pipeline (shipped model, 100 synthetic 640x480 images, closest_center; PQ, panoptic
pixels equal to torch fp32): val 76.31 for torch, onnxruntime and openvino fp32 (>= 99.9999 % pixels), openvino
bf16 76.33 (99.98 %), torch bf16 76.34 (99.98 %); val_overlap 64.29 fp32, openvino bf16 64.26 (99.96 %), torch
bf16 64.29 (99.95 %). So bf16 passes the criterion (PQ within 0.5 of fp32) and is the auto precision where the
CPU runs it natively; fp32 stays one setting away. OpenVINO fp16 on this CPU (no AMX-FP16) was no faster than fp32.

AVX2-only CPU (2-core AMD EPYC, AVX2 + FMA, no AVX-512 / VNNI / AMX; the shipped research-layout model,
256x352, network only). fp32, quiet machine (issue 17): torch 57-67 ms, onnxruntime and openvino fp32 no faster
than torch; 138 GFLOP/s = 80 % of the cores' fp32 peak, so only fewer bits help. onnxruntime int8 (static QDQ,
per-channel int8 weights, uint8 activations, MinMax, every layer; export/quantize.py) 57.5 -> 35.9 ms (1.6x;
issue 17, quiet). Re-measured with this implementation while a nice -15 training run held both cores (10 calls
each, so only the ratios mean anything): onnxruntime int8 / fp32 median 1014 / 2022 ms (2.0x), openvino int8 (NNCF)
/ fp32 median 5109 / 8536 ms (1.7x). Network output vs fp32 (3 val scenes): semantic argmax equal on 99.86-99.89 %
(onnxruntime int8) and 99.93-99.98 % (openvino int8) of pixels. Whole pipeline (closest_center, first 30 images of
synthetic splits, default 32-scene calibration). Previous shipped model (resnet18, research layout), val:
onnxruntime int8 PQ 78.39 (PQ_th 59.66, PQ_st 97.12, mIoU 94.17, box AP 46.55) vs fp32 78.35 (59.62, 97.09, 94.16,
46.54); issue 17's own run on a 40-image split: 79.9 vs 79.7. New shipped model (resnet18_half, fast layout; it
replaced the file during these runs): val_overlap onnxruntime int8 68.18 (40.09, 96.26, 93.41, 29.01), openvino
int8 68.16 vs fp32 68.34 (40.41, 96.28, 93.42, 29.42); val openvino int8 79.03 vs fp32 78.81. So int8
passes the criterion (PQ within 0.5) and is auto on AVX2 for both runtimes, onnxruntime first (faster in issue 17's
quiet measurement and here). test/export/test_int8.py checks >= 98 % equal panoptic categories on 4 val scenes.

AVX-512 VNNI without bf16 (2-core Intel Xeon @ 2.80GHz, AVX-512 F/BW/DQ/VL/VNNI, no AVX512_BF16 / AMX; 2026-12-07;
`panoptic bench runtimes --networks shipped` and `panoptic bench model` reproduce it). Network only (`panoptic bench
runtimes`, 30 interleaved rounds, median ms): torch eager fp32 57.6, torch fp32 35.5, onnxruntime fp32 28.1,
openvino fp32 25.3, onnxruntime int8 18.7, openvino int8 11.8 (2.4x the fp32 auto of before). Whole pipeline at
640x480 (`panoptic bench model`, fuse at the output grid, median ms): onnxruntime fp32 37.7, openvino fp32 32.8,
onnxruntime int8 26.7, openvino int8 20.1 (49.8 FPS). PQ, closest_center, the 100-image val / val_overlap splits:
fp32 (both runtimes) 78.99 / 68.54, onnxruntime int8 79.04 / 68.59, openvino int8 79.02 / 68.56: within 0.1 of fp32.
So int8 is auto there, openvino first. AVX-512 without VNNI: not measured; fp32 stays auto (onnxruntime first).
AVX-512 BF16 without AMX: not measured; openvino bf16 as before (OpenVINO lists BF16 only where the CPU has bf16
instructions; its 4.7x was measured with AMX), torch fp32 (torch bf16 was measured faster only with AMX). AMX: the
table above; int8 on AMX-INT8 is not measured: bf16 stays auto.

Resulting auto rules, ONE table per CPU class (runtime/cpu.py: PLANS, auto_plan(CpuInfo)); the runtime order is
the order of the fastest measured (runtime, precision) pairs:
    AVX2:         onnxruntime int8, openvino int8, torch fp32
    AVX-512 VNNI: openvino int8, onnxruntime int8, torch fp32
    AVX-512:      onnxruntime fp32, openvino fp32, torch fp32          (int8 unmeasured)
    AVX-512 BF16: openvino bf16, onnxruntime fp32, torch fp32
    AMX:          openvino bf16, torch bf16, onnxruntime fp32
On CUDA torch (fp16 autocast), then onnxruntime. precision auto = each runtime's auto_precision(device), which
reads that table; an exported file already quantized to int8 runs as int8. int8 is quantized on first use and
cached (export/cache.py): the first start with int8 takes minutes on two cores, later starts do not.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..export.quantize import is_int8
from ..export.sidecar import EXPORT_SUFFIXES
from ..modeling.device import resolve_device
from ..registry import RUNTIMES
from . import cpu
from .base import PRECISIONS, NetworkRuntime

log = logging.getLogger(__name__)

# runtime="auto" on CUDA, fastest first; on a CPU the order is its class's plan (runtime/cpu.py: auto_plan)
CUDA_ORDER = ("torch", "onnxruntime")


def load_runtime(source, *, runtime: str = "auto", device: str | torch.device = "auto", precision: str = "auto",
                 cache_dir: str | Path = "", num_threads: int = 0, calibration: str | Path = "") -> NetworkRuntime:
    """A NetworkRuntime for ``source``: a PanopticModel, a checkpoint (.safetensors / .pt / .pth with its
    .json), an exported .onnx, or an OpenVINO .xml (the exported files carry config and categories).

    runtime: auto | torch | onnxruntime | openvino (auto: auto_runtime_order and the module docstring).
    device: auto (CUDA when present and the runtime runs on it, else CPU) | cpu | cuda | cuda:N.
    precision: auto | fp32 | bf16 | fp16 | int8 (see resolve_precision). cache_dir: export cache for checkpoints
    run by onnxruntime / openvino ("" = ~/.cache/panoptic_ros/exports). num_threads: CPU threads of the network
    (0 = all cores; runtime.cpu.thread_count). calibration: int8's calibration image folder ("" = the default
    synthetic set; the quantized export is cached per checkpoint and calibration set).
    Errors (ValueError / FileNotFoundError) are one line: unknown or not installed runtime (naming the pip
    package), a runtime that cannot read the file, an unsupported device / precision combination.
    """
    path = None
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"model not found: {path}")
    runtime_cls, device = resolve_runtime(runtime, device, path)
    if precision == "auto" and _is_int8_export(path):
        precision = "int8"  # a quantized file runs as what it is
    precision = resolve_precision(runtime_cls, device, precision)
    build = runtime_cls.from_file if path is not None else runtime_cls.from_model
    loaded = build(path if path is not None else source, device=device, precision=precision, cache_dir=cache_dir,
                   num_threads=num_threads, calibration=calibration)
    log.info("network runtime %s, %s on %s, %d threads (%s)", loaded.name, loaded.precision, loaded.device,
             loaded.num_threads, loaded.source)
    return loaded


def resolve_runtime(runtime: str, device: str | torch.device = "auto",
                    path: Path | None = None) -> tuple[type[NetworkRuntime], torch.device]:
    """(runtime class, torch.device) for a runtime name (or auto) and a device string (or auto)."""
    if runtime != "auto":
        runtime_cls = RUNTIMES.get(runtime)  # ValueError listing the registered names
        runtime_cls.require()
        device = _resolve(device, runtime_cls)
        if path is not None and path.suffix not in runtime_cls.reads:
            raise ValueError(f"{path}: runtime {runtime_cls.name} reads {', '.join(runtime_cls.reads)} files, not "
                             f"{path.suffix or 'a file without suffix'}")
        _check_device(runtime_cls, device)
        return runtime_cls, device
    device = device if isinstance(device, torch.device) else resolve_device(str(device))
    candidates = [RUNTIMES.get(n) for n in auto_runtime_order(device)]
    readable = [c for c in candidates if path is None or path.suffix in c.reads]
    for runtime_cls in readable:
        if runtime_cls.unavailable_reason() is None:
            return runtime_cls, device
    if readable:  # none installed: name the preferred one's package
        readable[0].require()
    what = f"{path.suffix} files" if path is not None else "this model"
    raise ValueError(f"no runtime runs {what} on {device} (runtimes tried: {', '.join(c.name for c in candidates)})")


def auto_runtime_order(device: torch.device) -> tuple[str, ...]:
    """Runtimes "auto" tries on ``device``, fastest first: on a CPU its class's plan (runtime/cpu.py, measurements
    in this module's docstring), on CUDA torch, then onnxruntime."""
    if device.type == "cpu":
        return cpu.auto_plan(cpu.cpu_info()).order
    return CUDA_ORDER if device.type == "cuda" else ()


def _is_int8_export(path: Path | None) -> bool:
    return path is not None and path.suffix in EXPORT_SUFFIXES and is_int8(path)


def resolve_precision(runtime: str | type[NetworkRuntime], device: str | torch.device, requested: str = "auto") -> str:
    """fp32 | bf16 | fp16 | int8 for a runtime on a device; ValueError (one line) for a combination it cannot run
    (naming the runtimes that offer the precision there).

    auto = the runtime's auto_precision(device): the fastest precision that passes the agreement criterion
    here (see the module docstring): on a CPU its class's plan (runtime/cpu.py), torch fp16 on CUDA,
    onnxruntime fp16 with TensorRT on CUDA, else fp32.
    """
    runtime_cls = RUNTIMES.get(runtime) if isinstance(runtime, str) else runtime
    runtime_cls.require()
    device = _resolve(device, runtime_cls)
    _check_device(runtime_cls, device)
    if requested not in ("auto", *PRECISIONS):
        raise ValueError(f"unknown precision {requested!r}; choose auto, {', '.join(PRECISIONS)}")
    support = runtime_cls.precisions(device)
    precision = runtime_cls.auto_precision(device) if requested == "auto" else requested
    if support.get(precision, "unknown precision"):
        offered = [n for n in RUNTIMES.names() if _offers(n, device, precision)]
        where = f"; {precision} is offered by runtime {', '.join(offered)}" if offered else ""
        raise ValueError(f"precision {precision} with runtime {runtime_cls.name} on {device}: {support[precision]}"
                         + where)
    return precision


def _offers(name: str, device: torch.device, precision: str) -> bool:
    runtime_cls = RUNTIMES.get(name)
    if runtime_cls.unavailable_reason() is not None or device.type not in runtime_cls.device_types:
        return False
    return runtime_cls.precisions(device).get(precision) == ""


def available_runtimes() -> dict[str, str | None]:
    """runtime name -> None when installed, else the one-line reason (the package to pip install)."""
    return {name: RUNTIMES.get(name).unavailable_reason() for name in RUNTIMES.names()}


def _resolve(device: str | torch.device, runtime_cls: type[NetworkRuntime]) -> torch.device:
    """device "auto" for a known runtime: CUDA when present and the runtime runs on CUDA, else CPU."""
    if isinstance(device, torch.device):
        return device
    if str(device or "auto").strip().lower() == "auto":
        return torch.device("cuda" if torch.cuda.is_available() and "cuda" in runtime_cls.device_types else "cpu")
    return resolve_device(str(device))


def _check_device(runtime_cls: type[NetworkRuntime], device: torch.device) -> None:
    if device.type not in runtime_cls.device_types:
        raise ValueError(f"runtime {runtime_cls.name} runs on {' or '.join(runtime_cls.device_types)}, not {device}"
                         + ("; on CUDA use runtime torch or onnxruntime" if device.type == "cuda" else ""))
