"""Getting an exported network file for a foreign runtime (ONNX Runtime, OpenVINO) from any model source.

A checkpoint goes through the export cache (exported once, reused while the checkpoint is unchanged); a
PanopticModel instance is exported to a temporary ONNX file (it has no file to key a cache on, and both
runtimes read ONNX); an exported file is used as it is. Config and categories always come from the
description embedded in the export.
"""
from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .base import CHECKPOINT_SUFFIXES


@contextlib.contextmanager
def exported_file(source, export_format: str, readable: tuple[str, ...], runtime: str,
                  cache_dir: str | Path = "") -> Iterator[Path]:
    """Yield an exported file of ``source`` that ``runtime`` reads (suffix in ``readable``).

    source: a PanopticModel, a checkpoint path (cached export in ``export_format``), or an exported file
    with one of the readable suffixes. The temporary ONNX export of a model instance is deleted when the
    block ends (load it inside the block).
    """
    from ..export import cached_export, export_onnx

    if not isinstance(source, (str, Path)):
        with tempfile.TemporaryDirectory(prefix="panoptic_runtime_") as tmp:
            yield export_onnx(source, Path(tmp) / "model.onnx")
        return
    path = Path(source)
    if path.suffix in readable:
        if not path.is_file():
            raise FileNotFoundError(f"model not found: {path}")
        yield path
    elif path.suffix in CHECKPOINT_SUFFIXES:
        yield cached_export(path, export_format, cache_dir)
    else:
        raise ValueError(f"{path}: runtime {runtime} reads {', '.join(readable)} files or checkpoints "
                         f"({', '.join(CHECKPOINT_SUFFIXES)}), not {path.suffix or 'a file without suffix'}")


def embedded_config(path: Path):
    """(PanopticConfig, CategoryMap) from an exported file's embedded description (or its .json)."""
    from ..export.sidecar import read_export_sidecar
    from ..modeling.checkpoint import sidecar_categories, sidecar_config

    side = read_export_sidecar(path)
    return sidecar_config(side, path), sidecar_categories(side, path)
