"""The one JSON writer: plain JSON (NaN and infinities as null, numpy / torch values as numbers or lists, paths
as strings), written atomically.

Reports, logs, sidecars and summaries all go through here, so every file the package writes is valid JSON for
any reader (json.dumps would write NaN, which strict parsers reject) and a crash never leaves half a file.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text


def to_jsonable(obj: Any) -> Any:
    """obj as plain JSON types: dict keys as strings, tuples as lists, non-finite floats as None; numpy / torch
    scalars and arrays through .item() / .tolist(), paths as strings. TypeError names anything else."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, bool, int)):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):  # numpy arrays and scalars, torch tensors (a 0-d one gives a number)
        return to_jsonable(obj.tolist())
    if hasattr(obj, "item"):
        return to_jsonable(obj.item())
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps(data: Any, indent: int | None = 2) -> str:
    """data as JSON text (see to_jsonable); indent None gives the compact form."""
    separators = (",", ":") if indent is None else None
    return json.dumps(to_jsonable(data), indent=indent, separators=separators, allow_nan=False)


def write_json(path: str | Path, data: Any, indent: int | None = 2) -> Path:
    """Write data as JSON (a trailing newline) through a temporary file + fsync + rename; returns path."""
    return atomic_write_text(path, dumps(data, indent) + "\n")
