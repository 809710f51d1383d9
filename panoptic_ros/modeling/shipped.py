"""What the shipped model is, in one sentence for start-up logs (the CLI's and the node's).

Why: on a real photo the shipped model labels people "triangle" and trees "disc"; nothing in its output says that
it only knows the 8 synthetic classes of `panoptic synth`. Every entry point that runs it says so once.
"""
from __future__ import annotations

from pathlib import Path

from ..data.categories import CategoryMap
from . import default_model_path


def is_shipped_model(model: str | Path | None) -> bool:
    """True for "" / None (the default) or a path to panoptic_ros/weights/default.safetensors."""
    if not model:
        return True
    try:
        return Path(model).resolve() == default_model_path().resolve()
    except OSError:
        return False


def shipped_model_note(categories: CategoryMap) -> str:
    """'the shipped model only knows N synthetic classes (...): for real images ...' (one line)."""
    names = ", ".join(c.name for c in categories.categories)
    return (f"the shipped model only knows {len(categories)} synthetic classes ({names}; the scenes of `panoptic "
            "synth`), not real-world ones: for real images train on your data (docs/recipes.md; `panoptic convert` "
            "starts from COCO weights)")
