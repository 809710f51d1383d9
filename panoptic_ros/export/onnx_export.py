"""PanopticModel -> ONNX: the network alone (forward_raw), dynamic batch and image size, sidecar embedded.

Decoding, NMS and the panoptic head stay outside the graph: the outputs are forward_raw's fixed-layout maps,
flattened by the naming rule of panoptic_ros.export.outputs. Every optional output the model has is exported
(levelness, borderness, and the pyramid "features" of the RoI mask head, whose small FCN is embedded in the
description: export/mask_head.py); runtimes fetch the optional ones only when a merge policy asks.
Uses torch's TorchScript-based exporter
(``dynamo=False``), which needs only the onnx package; the torch.export-based one would add onnxscript.
Dynamic H/W is checked by the tests (outputs equal torch at two image sizes).
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch

from .common import example_input, import_package
from .outputs import FlatOutputs, output_names
from .sidecar import METADATA_KEY, model_sidecar, to_text, write_json

log = logging.getLogger(__name__)

OPSET = 18
OPTIONAL = ("levelness", "borderness", "features")  # PanopticModel.OPTIONAL_OUTPUTS: all it has are exported
INPUT_NAME = "images"


def export_onnx(model, path: str | Path, *, opset: int = OPSET) -> Path:
    """Write ``model``'s network to ``path`` (.onnx) plus ``path.with_suffix('.json')``; returns the path.

    model: a PanopticModel (its device and train/eval state are restored afterwards). The traced input is
    one image of the model's nominal input size; batch, height and width are dynamic (H, W multiples of
    cfg.model.size_divisibility, as PanopticModel.prepare_inputs pads them).
    """
    onnx = import_package("onnx", "ONNX export")
    path = Path(path)
    if path.suffix != ".onnx":
        raise ValueError(f"{path}: an ONNX export is written as .onnx")
    path.parent.mkdir(parents=True, exist_ok=True)
    example = example_input(model)
    was_training, device = model.training, model.device
    model.eval().to("cpu")
    try:
        with torch.no_grad():
            names = output_names(model.forward_raw(example, optional=OPTIONAL))
        dynamic_axes = {INPUT_NAME: {0: "batch", 2: "height", 3: "width"}}
        dynamic_axes.update({n: {0: "batch", 2: f"{n}_height", 3: f"{n}_width"} for n in names})
        with warnings.catch_warnings():
            # the legacy exporter's deprecation notice and shape-branch TracerWarnings (sizes are multiples
            # of size_divisibility, so the traced branches hold at every padded size)
            warnings.simplefilter("ignore")
            torch.onnx.export(FlatOutputs(model, OPTIONAL), (example,), str(path), dynamo=False, opset_version=opset,
                              input_names=[INPUT_NAME], output_names=names, dynamic_axes=dynamic_axes,
                              do_constant_folding=True)
    finally:
        model.to(device).train(was_training)
    sidecar = model_sidecar(model, names, "onnx")
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, {METADATA_KEY: to_text(sidecar)})
    onnx.save(proto, str(path))
    write_json(path, sidecar)
    log.info("exported ONNX (opset %d, %d outputs) to %s", opset, len(names), path)
    return path

