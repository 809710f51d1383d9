"""`panoptic export --model CKPT --format onnx|openvino --out PATH`: the network as a deployable file.

Writes the network alone (decoding, NMS and the panoptic head stay in Python; dynamic batch and image size)
with the model's config and categories embedded, so the file alone works wherever a checkpoint does
(`--model model.onnx --runtime onnxruntime`, `--model model.xml --runtime openvino`). A .json copy of that
description is written next to it. OpenVINO: model.xml + model.bin with fp32 weights.
"""
from __future__ import annotations

import argparse

FORMATS = ("onnx", "openvino")


def add_parser(subparsers, name: str = "export") -> argparse.ArgumentParser:
    p = subparsers.add_parser(name, help="export the network to ONNX or OpenVINO IR",
                              description=__doc__.split("\n", 1)[1].strip())
    p.add_argument("--model", help="checkpoint (.safetensors with its .json; for openvino also an exported "
                   ".onnx); default: the shipped model")
    p.add_argument("--format", required=True, choices=FORMATS, help="onnx (.onnx) or openvino (.xml + .bin)")
    p.add_argument("--out", required=True, help="output file: .onnx for onnx, .xml for openvino")
    return p


def run(args) -> int:
    from pathlib import Path

    from panoptic_ros.export import export_model
    from panoptic_ros.modeling import default_model_path

    source = Path(args.model) if args.model else default_model_path()
    out = export_model(source, args.format, args.out)
    written = [out, out.with_suffix(".json")] + ([out.with_suffix(".bin")] if args.format == "openvino" else [])
    print(f"exported {source} ({args.format}) to " + ", ".join(str(p) for p in written))
    return 0
