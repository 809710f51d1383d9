"""The network alone on every runtime x precision this machine offers, against torch eager fp32.

Two networks: the shipped model at its input size (256x352) and the research-size network (resnet50, FPN 256,
branches 128, 4-conv towers, 133 COCO classes, random weights; --layout research | fast) at 576x864. Each
variant gets the same input; the table gives median / min ms, the speed-up over torch eager fp32 (plain NCHW,
no BatchNorm folding: the "before" of the runtimes work) and the largest absolute difference of any output.
int8 variants are quantized on the default synthetic calibration set (export/quantize.py) before timing.
The JSON names the CPU (runtime.cpu: model, class, flags), since every number depends on it.
Which variants pass the agreement rule (PQ within 0.5 of fp32) is tested by test/pipeline/
test_runtime_agreement.py; reduced precisions are reported here with their logit difference. Runs are
interleaved (one call of every variant per round) so a busy machine slows all of them alike.
Writes OUT/runtimes.json and OUT/runtimes.png.
"""
from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from panoptic_ros.export.outputs import flatten_outputs
from panoptic_ros.modeling import default_model_path, load_checkpoint
from panoptic_ros.runtime import cpu, load_runtime
from panoptic_ros.utils.json_io import write_json

from .compare import build_ours, research_categories
from .timing import round_robin

log = logging.getLogger(__name__)

VARIANTS = (("torch", "fp32"), ("torch", "bf16"), ("onnxruntime", "fp32"), ("onnxruntime", "int8"),
            ("openvino", "fp32"), ("openvino", "bf16"), ("openvino", "fp16"), ("openvino", "int8"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--networks", nargs="+", choices=("shipped", "research"), default=["shipped", "research"])
    parser.add_argument("--layout", default="research", help="layout of the research-size network (research | fast)")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds (one call of every variant each)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")


def research_model(layout: str, size: tuple[int, int]):
    """The research-size network of configs/research*.yaml with random weights (133 COCO-like classes, 80 things),
    as `panoptic bench compare` builds it."""
    return build_ours(layout, research_categories(133, 80), size[1], size[0], 100)


def measure(model, size: tuple[int, int], repeats: int) -> dict:
    """Median / min ms, speed-up and max abs output difference of every available variant on one network."""
    import numpy as np
    import torch

    images = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(1))

    def eager(x):
        with torch.inference_mode():
            return model.forward_raw(x)

    runners, skipped = {"torch eager fp32 (before)": eager}, {}
    with tempfile.TemporaryDirectory() as cache:
        for runtime, precision in VARIANTS:
            try:
                runners[f"{runtime} {precision}"] = load_runtime(model, runtime=runtime, device="cpu",
                                                                 precision=precision, cache_dir=cache)
            except ValueError as exc:  # not installed, or not on this CPU: reported, not fatal
                skipped[f"{runtime} {precision}"] = str(exc)
        reference = flatten_outputs(eager(images))
        diffs = {}
        for name, run in runners.items():
            run(images)  # warm-up
            diffs[name] = max(float((a.float() - b.float()).abs().max())
                              for a, b in zip(flatten_outputs(run(images)), reference))
        seconds = round_robin({name: (lambda run=run: run(images)) for name, run in runners.items()}, repeats, 0)
        times = {name: [1000 * t for t in ts] for name, ts in seconds.items()}
    base = float(np.median(times["torch eager fp32 (before)"]))
    rows = [{"variant": name, "median_ms": float(np.median(t)), "min_ms": float(min(t)),
             "speedup": base / float(np.median(t)), "speedup_min": min(times["torch eager fp32 (before)"]) / min(t),
             "max_abs_diff": diffs[name]} for name, t in times.items()]
    return {"input": list(size), "rows": rows, "skipped": skipped}


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nets = list(result["networks"])
    fig, axes = plt.subplots(1, len(nets), figsize=(6 * len(nets), 4), squeeze=False)
    for ax, net in zip(axes[0], nets):
        rows = result["networks"][net]["rows"]
        ax.barh([r["variant"] for r in rows], [r["median_ms"] for r in rows])
        for i, r in enumerate(rows):
            ax.annotate(f" x{r['speedup']:.2f}", (r["median_ms"], i), va="center", fontsize=8)
        ax.set(xlabel="median ms (network only)", title=f"{net} {result['networks'][net]['input']}")
        ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args) -> dict:
    import torch

    if args.repeats < 1:
        raise ValueError("--repeats must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    networks = {}
    for net in args.networks:
        if net == "shipped":
            model, size = load_checkpoint(default_model_path(), device="cpu"), (256, 352)
        else:
            size = (576, 864)
            model = research_model(args.layout, size)
        networks[net] = measure(model, size, args.repeats)
        for r in networks[net]["rows"]:
            log.info("%s %-26s %8.1f ms  x%.2f  max|d| %.1e", net, r["variant"], r["median_ms"], r["speedup"],
                     r["max_abs_diff"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": "runtimes", "cpu": cpu.cpu_info().to_json(), "threads": torch.get_num_threads(),
              "torch": torch.__version__,
              "research_layout": args.layout, "repeats": args.repeats, "networks": networks,
              "json": str(out / "runtimes.json"), "plot": str(out / "runtimes.png")}
    plot(result, out / "runtimes.png")
    write_json(out / "runtimes.json", result)
    print(format_table(result))
    return result


def format_table(result: dict) -> str:
    lines = [f"{'network':10} {'variant':28} {'median ms':>10} {'min ms':>8} {'x':>6} {'max |diff|':>11}"]
    for net, data in result["networks"].items():
        for r in data["rows"]:
            lines.append(f"{net:10} {r['variant']:28} {r['median_ms']:10.1f} {r['min_ms']:8.1f} {r['speedup']:6.2f} "
                         f"{r['max_abs_diff']:11.1e}")
        lines += [f"{net:10} {name:28} skipped: {why}" for name, why in data["skipped"].items()]
    return "\n".join(lines)
