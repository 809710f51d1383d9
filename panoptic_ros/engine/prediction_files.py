"""Files of `panoptic predict`: input image lists, and PanopticResult -> numpy maps and dataset-id JSON segments."""
from __future__ import annotations

import glob
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


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
