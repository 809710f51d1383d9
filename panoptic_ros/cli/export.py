"""`panoptic export --model CKPT --format onnx|openvino --out PATH`: the network as a deployable file.

Writes the network alone (decoding, NMS and the panoptic head stay in Python; dynamic batch and image size)
with the model's config and categories embedded, so the file alone works wherever a checkpoint does
(`--model model.onnx --runtime onnxruntime`, `--model model.xml --runtime openvino`). A .json copy of that
description is written next to it. OpenVINO: model.xml + model.bin with fp32 weights.
`--precision int8` quantizes it (onnx: onnxruntime static QDQ; openvino: NNCF), calibrated on the images of
`--calibration DIR` passed through the pipeline's own preprocessing (default: 32 synthetic scenes made on the
fly); the RoI mask head, when the model has one, is carried along (pyramid features as outputs, its small FCN
embedded).
"""
from __future__ import annotations

import argparse

FORMATS = ("onnx", "openvino")
EXPORT_PRECISIONS = ("fp32", "int8")  # panoptic_ros.export.EXPORT_PRECISIONS (the CLI imports no heavy module at parse)


def add_parser(subparsers, name: str = "export") -> argparse.ArgumentParser:
    p = subparsers.add_parser(name, help="export the network to ONNX or OpenVINO IR",
                              description=__doc__.split("\n", 1)[1].strip())
    p.add_argument("--model", help="checkpoint (.safetensors with its .json; for openvino also an exported "
                   ".onnx); default: the shipped model")
    p.add_argument("--format", required=True, choices=FORMATS, help="onnx (.onnx) or openvino (.xml + .bin)")
    p.add_argument("--out", required=True, help="output file: .onnx for onnx, .xml for openvino")
    p.add_argument("--precision", default="fp32", choices=EXPORT_PRECISIONS,
                   help="fp32 (bf16 / fp16 are chosen when a runtime loads it) or int8 (post-training quantization)")
    p.add_argument("--calibration", default="", metavar="DIR",
                   help="int8: folder of calibration images (default: synthetic scenes generated on the fly)")
    return p


def run(args) -> int:
    from pathlib import Path

    from panoptic_ros.export import export_model
    from panoptic_ros.modeling import default_model_path

    from .options import check_model_path

    check_model_path(args.model)
    source = Path(args.model) if args.model else default_model_path()
    if args.calibration and args.precision != "int8":
        raise ValueError("--calibration is for --precision int8")
    out = export_model(source, args.format, args.out, precision=args.precision, calibration=args.calibration)
    written = [out, out.with_suffix(".json")] + ([out.with_suffix(".bin")] if args.format == "openvino" else [])
    print(f"exported {source} ({args.format}, {args.precision}) to " + ", ".join(str(p) for p in written))
    return 0
