"""Flat, named network outputs <-> the nested dict that PanopticModel.forward_raw returns.

Exported graphs and foreign runtimes speak in flat lists of named tensors; the rest of the package speaks in
forward_raw's dict. One naming rule links them, so export and every runtime stay generic over whatever the
network returns: a tensor under key ``k`` is output ``k``; a list under key ``k`` is outputs ``k_0 .. k_n``.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch

_LIST_ITEM = re.compile(r"^(?P<key>.+)_(?P<index>\d+)$")


def output_names(raw: dict[str, Any]) -> list[str]:
    """Flat output names of a forward_raw dict, in order (ValueError on a layout the rule cannot name)."""
    names = []
    for key, value in raw.items():
        if isinstance(value, torch.Tensor):
            if _LIST_ITEM.match(key):
                raise ValueError(f"network output {key!r}: a tensor key must not end in _<digits> "
                                 "(reserved for list items)")
            names.append(key)
        elif isinstance(value, (list, tuple)) and all(isinstance(v, torch.Tensor) for v in value):
            names.extend(f"{key}_{i}" for i in range(len(value)))
        else:
            raise ValueError(f"network output {key!r}: expected a tensor or a list of tensors, "
                             f"got {type(value).__name__}")
    return names


def flatten_outputs(raw: dict[str, Any]) -> list[torch.Tensor]:
    """The tensors of a forward_raw dict in output_names order."""
    flat: list[torch.Tensor] = []
    for value in raw.values():
        flat.extend(value if isinstance(value, (list, tuple)) else [value])
    return flat


def unflatten_outputs(names: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    """Rebuild the forward_raw dict from flat names and values (list items are ordered by their index)."""
    if len(names) != len(values):
        raise ValueError(f"{len(names)} output names for {len(values)} values")
    out: dict[str, Any] = {}
    items: dict[str, dict[int, Any]] = {}
    for name, value in zip(names, values):
        match = _LIST_ITEM.match(name)
        if match:
            key = match["key"]
            items.setdefault(key, {})[int(match["index"])] = value
            out.setdefault(key, None)  # keeps the key's position
        else:
            out[name] = value
    for key, by_index in items.items():
        if sorted(by_index) != list(range(len(by_index))):
            raise ValueError(f"outputs {key}_*: indices {sorted(by_index)} are not 0..{len(by_index) - 1}")
        out[key] = [by_index[i] for i in range(len(by_index))]
    return out


class FlatOutputs(torch.nn.Module):
    """Wraps a PanopticModel so forward(images) returns forward_raw's tensors as a flat tuple (for tracing).
    optional: forward_raw's optional outputs to include (None = its default)."""

    def __init__(self, model: torch.nn.Module, optional=None):
        super().__init__()
        self.model = model
        self.optional = optional

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(flatten_outputs(self.model.forward_raw(images, optional=self.optional)))


def map_outputs(raw: dict[str, Any], fn) -> dict[str, Any]:
    """Apply fn to every tensor of a forward_raw dict, keeping its structure."""
    return {k: [fn(t) for t in v] if isinstance(v, (list, tuple)) else fn(v) for k, v in raw.items()}
