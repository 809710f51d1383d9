"""Exports made once per checkpoint: the node or a pipeline given a .safetensors and runtime onnxruntime or
openvino gets a cached export instead of re-exporting at every start.

Entry folder = sha256 of the checkpoint bytes, its sidecar, the export format and its version, the
torch / onnx / openvino / onnxruntime / nncf versions, the precision (fp32 | int8) and for int8 the calibration
set's hash; so a retrained checkpoint, an upgraded exporter or other calibration images never reuse a stale
graph. An entry is written in a temporary folder and renamed into place (atomic: a crash leaves no
half-written entry), with a manifest of its files' sha256; an entry whose files do not match it (corrupt,
truncated, partly deleted) is logged and exported again.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from . import quantize
from .formats import FORMATS, export_model
from .sidecar import EXPORT_FORMAT_VERSION, tool_versions

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT_OF = {".onnx": "onnx", ".xml": "openvino"}  # exported files that can be quantized into the cache


def default_cache_dir() -> Path:
    """~/.cache/panoptic_ros/exports (respects XDG_CACHE_HOME)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "panoptic_ros" / "exports"


def cached_export(checkpoint_path: str | Path, export_format: str, cache_dir: str | Path = "", *,
                  precision: str = "fp32", calibration: str | Path = "") -> Path:
    """The exported file (.onnx / .xml) of a checkpoint (or of an fp32 .onnx / .xml to quantize), exporting it
    into the cache on first use. int8 entries are quantized from the cached fp32 export of the same format and
    keyed also by the calibration set's hash (export/quantize.py)."""
    checkpoint_path = Path(checkpoint_path)
    if export_format not in FORMATS:
        raise ValueError(f"unknown export format {export_format!r}; choose one of {', '.join(FORMATS)}")
    if not checkpoint_path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {checkpoint_path}")
    root = Path(cache_dir) if str(cache_dir) else default_cache_dir()
    key = export_key(checkpoint_path, export_format, precision, calibration)
    entry = root / f"{checkpoint_path.stem}-{export_format}-{precision}-{key[:24]}"
    target = entry / f"model{FORMATS[export_format]}"
    if entry.exists():
        problem = verify_entry(entry)
        if not problem:
            log.debug("using cached %s export %s", export_format, target)
            return target
        log.warning("cached %s export %s is unusable (%s); exporting it again", export_format, entry, problem)
        shutil.rmtree(entry, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    log.info("exporting %s to %s for runtime use (once per checkpoint)", checkpoint_path, export_format)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=root))
    try:
        if precision == "int8":
            fp32 = (cached_export(checkpoint_path, export_format, root) if checkpoint_path.suffix not in FORMAT_OF
                    else checkpoint_path)
            quantizer = quantize.quantize_onnx if export_format == "onnx" else quantize.quantize_openvino
            quantizer(fp32, tmp / target.name, calibration)
        else:
            source = cached_export(checkpoint_path, "onnx", root) if export_format == "openvino" else checkpoint_path
            export_model(source, export_format, tmp / target.name)
        write_manifest(tmp)
        try:
            os.replace(tmp, entry)
        except OSError:
            if verify_entry(entry):  # not a concurrent writer's finished entry: a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def export_key(checkpoint_path: Path, export_format: str, precision: str = "fp32",
               calibration: str | Path = "") -> str:
    """sha256 over what the export depends on (checkpoint, sidecar, format + version, tool versions, precision
    and, for int8, the calibration set)."""
    digest = hashlib.sha256()
    for path in (checkpoint_path, checkpoint_path.with_suffix(".json"), checkpoint_path.with_suffix(".bin")):
        if path.is_file():
            digest.update(_sha256(path).encode())
    facts = {"format": export_format, "format_version": EXPORT_FORMAT_VERSION, "versions": tool_versions(),
             "precision": precision}
    if precision == "int8":
        facts["calibration"] = quantize.calibration_key(calibration)
    digest.update(json.dumps(facts, sort_keys=True).encode())
    return digest.hexdigest()


def write_manifest(folder: Path) -> None:
    files = {p.name: _sha256(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST}
    (folder / MANIFEST).write_text(json.dumps({"files": files}, indent=2))


def verify_entry(folder: Path) -> str:
    """'' when every file of a cache entry matches its manifest, else what is wrong."""
    try:
        files = json.loads((folder / MANIFEST).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"no readable {MANIFEST}: {exc}"
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if _sha256(path) != expected:
            return f"{name} does not match its checksum (corrupt or truncated)"
    return ""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()  # (hashlib.file_digest is Python 3.11+; the package supports 3.10)
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
