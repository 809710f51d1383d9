"""Shared pieces of `panoptic eval`, `panoptic predict` and `panoptic bench model`: loading a checkpoint,
per-run inference settings, input image lists and PanopticResult -> dataset-id JSON segments."""
from __future__ import annotations

import copy
import glob
from pathlib import Path
from typing import Any

from panoptic_ros.config import InferenceConfig, set_value

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def load_model(path: str | Path | None = None, device: str | None = None, *, runtime: str | None = None,
               precision: str | None = None):
    """A ready inference pipeline for a model file (default: the shipped model); see pipeline.build_pipeline."""
    from panoptic_ros.pipeline import build_pipeline

    return build_pipeline(path, device=device, runtime=runtime, precision=precision)


def inference_config(model, policy: str | None = None, overrides: dict[str, Any] | None = None) -> InferenceConfig:
    """A validated copy of the checkpoint's inference settings with `policy` and `inference.<name>` overrides."""
    cfg = copy.deepcopy(model.cfg)
    if policy is not None:
        set_value(cfg, "inference.merge_policy", policy)
    for name, value in (overrides or {}).items():
        if value is not None:
            set_value(cfg, f"inference.{name}", value)
    return cfg.inference


def list_images(spec: str | Path) -> list[Path]:
    """An image file, a folder (its images, sorted) or a glob pattern -> image paths (errors name the input)."""
    spec = str(spec)
    p = Path(spec)
    if p.is_file():
        return [p]
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {p}")
        return files
    if glob.has_magic(spec):
        files = sorted(Path(f) for f in glob.glob(spec, recursive=True)
                       if Path(f).is_file() and Path(f).suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"no images match {spec}")
        return files
    raise FileNotFoundError(f"input not found: {spec}")


def dataset_segments(segments: list[dict], categories) -> list[dict]:
    """PanopticResult segments (category_id = channel index) -> JSON segments with dataset category ids."""
    out = []
    for s in segments:
        cat = categories.category(int(s["category_id"]))
        out.append({"id": int(s["id"]), "category_id": int(cat.id), "category_name": cat.name,
                    "isthing": bool(cat.isthing), "iscrowd": 0, "score": round(float(s.get("score", 1.0)), 5),
                    "bbox": [int(round(float(v))) for v in s["bbox"]], "area": int(s["area"])})
    return out


def panoptic_numpy(result):
    """The int32 [H,W] panoptic map of a PanopticResult as numpy."""
    pan = result.panoptic
    return pan.detach().cpu().numpy() if hasattr(pan, "detach") else pan
