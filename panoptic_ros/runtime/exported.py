"""Getting an exported network file for a foreign runtime (ONNX Runtime, OpenVINO) from any model source, and
the RoI mask head embedded in it.

A checkpoint goes through the export cache (exported, and for int8 quantized, once; reused while the checkpoint
and the calibration set are unchanged); a PanopticModel instance is exported (and quantized) to a temporary file
(it has no file to key a cache on); an exported file is used as it is, or for int8 quantized into the cache
keyed on its bytes unless it is int8 already. Config and categories always come from the description embedded
in the export.
"""
from __future__ import annotations

import binascii
import contextlib
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch

from ..export import cached_export, export_model
from ..export.formats import FORMATS
from ..export.mask_head import build_mask_head
from ..export.quantize import is_int8
from ..export.sidecar import read_export_sidecar
from ..modeling.checkpoint import sidecar_categories, sidecar_config
from .base import CHECKPOINT_SUFFIXES

log = logging.getLogger(__name__)


@contextlib.contextmanager
def exported_file(source, export_format: str, readable: tuple[str, ...], runtime: str, cache_dir: str | Path = "",
                  *, precision: str = "fp32", calibration: str | Path = "") -> Iterator[Path]:
    """Yield an exported file of ``source`` that ``runtime`` reads (suffix in ``readable``), int8-quantized
    when ``precision`` is int8 (calibration: a folder of images, "" = the default synthetic set).

    source: a PanopticModel, a checkpoint path (cached export in ``export_format``), or an exported file
    with one of the readable suffixes. The temporary export of a model instance is deleted when the
    block ends (load it inside the block).
    """
    file_precision = "int8" if precision == "int8" else "fp32"
    if not isinstance(source, (str, Path)):
        with tempfile.TemporaryDirectory(prefix="panoptic_runtime_") as tmp:
            fmt = export_format if file_precision == "int8" else "onnx"
            yield export_model(source, fmt, Path(tmp) / f"model{FORMATS[fmt]}", precision=file_precision,
                               calibration=calibration)
        return
    path = Path(source)
    if path.suffix in readable:
        if not path.is_file():
            raise FileNotFoundError(f"model not found: {path}")
        quantized = is_int8(path)
        if quantized and file_precision != "int8":
            raise ValueError(f"{path} is int8-quantized: load it with precision int8 (or auto), or use the fp32 "
                             "export / the checkpoint for other precisions")
        if file_precision == "int8" and not quantized:
            yield cached_export(path, export_format, cache_dir, precision="int8", calibration=calibration)
        else:
            yield path
    elif path.suffix in CHECKPOINT_SUFFIXES:
        yield cached_export(path, export_format, cache_dir, precision=file_precision, calibration=calibration)
    else:
        raise ValueError(f"{path}: runtime {runtime} reads {', '.join(readable)} files or checkpoints "
                         f"({', '.join(CHECKPOINT_SUFFIXES)}), not {path.suffix or 'a file without suffix'}")


def embedded_config(path: Path):
    """(PanopticConfig, CategoryMap) from an exported file's embedded description (or its .json)."""
    side = read_export_sidecar(path)
    return sidecar_config(side, path), sidecar_categories(side, path)


def embedded_mask_head(path: Path):
    """The torch RoI mask head embedded in an export (export/mask_head.py), or None when it has none."""
    description = read_export_sidecar(path).get("mask_head")
    if not description:
        return None
    try:
        return build_mask_head(description)
    except (KeyError, ValueError, TypeError, RuntimeError, binascii.Error) as exc:
        log.warning("%s: its embedded RoI mask head cannot be built (%s); mask_heuristic is unavailable", path, exc)
        return None


class ExportedMaskHead:
    """mask_logits for exported runtimes: the embedded torch mask head on the runtime's "features" outputs."""

    mask_head = None

    def mask_logits(self, features: list, boxes: list, padded: tuple[int, int]) -> torch.Tensor:
        """Per-class 28x28 mask logits [sum Ni, K, 28, 28] for boxes (input px) per image, in fp32 on the CPU."""
        if self.mask_head is None:
            raise ValueError(f"{self.source}: this export carries no RoI mask head (model.mask_head)")
        with torch.inference_mode():
            feats = [f.to("cpu", torch.float32) for f in features]
            logits = self.mask_head(feats, [b.to("cpu", torch.float32) for b in boxes], padded)
        return logits.to(self.device)
