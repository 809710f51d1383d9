"""Display colours of the node's classes: the model's own class colours, or those of a palette file.

Why: ~/semantic_color, ~/panoptic_color, ~/overlay and ~/labels must draw a class in one colour, and a user
must be able to choose it (a robot's map legend) without retraining. A palette file (node parameter
``palette``) is YAML: ``{class name: [r, g, b]}``; classes it does not name keep the model's colour, names
the model lacks are reported (they may belong to another model).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import yaml

from panoptic_ros.data.categories import CategoryMap


class PaletteError(ValueError):
    """A palette file that cannot be used; one line naming the file and the problem."""


def load_palette(path: str) -> dict[str, tuple[int, int, int]]:
    """{class name: (r, g, b)} of a palette file; {} for an empty path."""
    if not path:
        return {}
    file = Path(path).expanduser()
    try:
        data = yaml.safe_load(file.read_text())
    except OSError as exc:
        raise PaletteError(f"palette {path}: cannot read it ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise PaletteError(f"palette {path}: not YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise PaletteError(f"palette {path}: expected a mapping {{class name: [r, g, b]}}, got {type(data).__name__}")
    out = {}
    for name, color in data.items():
        ok = (isinstance(color, (list, tuple)) and len(color) == 3
              and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in color))
        if not ok:
            raise PaletteError(f"palette {path}: class {name!r}: expected [r, g, b] with integers 0-255, got {color!r}")
        out[str(name)] = tuple(int(v) for v in color)
    return out


def apply_palette(categories: CategoryMap, palette: dict) -> tuple[CategoryMap, list[str]]:
    """The categories recoloured by the palette, and the palette's names the model does not have."""
    if not palette:
        return categories, []
    names = set(categories.names)
    unknown = sorted(set(palette) - names)
    recoloured = CategoryMap([replace(c, color=palette[c.name]) if c.name in palette else c
                              for c in categories.categories])
    return recoloured, unknown
