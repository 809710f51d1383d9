"""Reading a category list from a file, in either form users have: a COCO panoptic JSON (its "categories"), a
dataset folder holding panoptic.json, or panopticapi's categories file (panoptic_coco_categories.json: a bare list
of {"id", "name", "isthing", "color"}). The one reader of `panoptic convert --categories` and `panoptic pq
--categories`, so both accept the same files.
"""
from __future__ import annotations

from pathlib import Path

from .categories import CategoryMap
from .coco_panoptic import load_json


def read_categories(path: str | Path) -> CategoryMap:
    """The CategoryMap of the file (or DIR/panoptic.json); a one-line ValueError / FileNotFoundError names it."""
    path = Path(path)
    if path.is_dir():
        path = path / "panoptic.json"
    if not path.is_file():
        raise FileNotFoundError(f"categories: {path} not found (a COCO panoptic JSON, a folder with panoptic.json "
                                "or panopticapi's categories file)")
    data = load_json(path, "categories file")
    cats = data.get("categories") if isinstance(data, dict) else data
    if not isinstance(cats, list) or not cats:
        raise ValueError(f"{path}: no 'categories' list (expected a COCO panoptic JSON or panopticapi's "
                         "categories file, a bare list)")
    try:
        return CategoryMap.from_coco(cats)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path}: bad categories: {exc!r}") from None
