"""Registries: the one place each extension point (merge policy, backbone, runtime, node output) is listed.

An entry is added where it is defined (``@MERGE_POLICIES.register("name")``); config choices, ROS parameter
descriptors, CLI choices and docs read ``registry.names()``. A registry knows the modules that hold its
built-in entries and imports them on first use, so it can be consulted from the config layer without
importing torch at import time. Third-party entries (a test, a user's plug-in) register the same way.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any


class Registry:
    """name -> object, filled by ``register``; ``get`` raises ValueError listing the valid names."""

    def __init__(self, kind: str, builtin_modules: tuple[str, ...] = ()):
        self.kind = kind
        self._builtin_modules = tuple(builtin_modules)
        self._loaded = not self._builtin_modules
        self._entries: dict[str, Any] = {}

    def _load_builtins(self) -> None:
        if not self._loaded:
            self._loaded = True  # set first: the modules call register() while importing
            for module in self._builtin_modules:
                importlib.import_module(module)

    def register(self, name: str | None = None, obj: Any = None) -> Callable[[Any], Any] | Any:
        """Register ``obj`` as ``name`` (or use as a decorator; name defaults to ``obj.name`` / ``__name__``)."""

        def add(item: Any) -> Any:
            key = name or getattr(item, "name", None) or item.__name__
            if not isinstance(key, str) or not key:
                raise ValueError(f"{self.kind}: entries need a non-empty string name, got {key!r}")
            if key in self._entries and self._entries[key] is not item:
                raise ValueError(f"{self.kind} {key!r} is registered already ({self._entries[key]!r})")
            self._entries[key] = item
            return item

        return add if obj is None else add(obj)

    def unregister(self, name: str) -> None:
        """Remove an entry (tests that register a temporary one)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> Any:
        self._load_builtins()
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ValueError(f"unknown {self.kind} {name!r}; choose one of {', '.join(self.names())}") from None

    def names(self) -> tuple[str, ...]:
        """Registered names: built-ins in the order of their modules (then of registration within a module),
        then the others in registration order, whatever imported what first."""
        self._load_builtins()
        rank = {module: i for i, module in enumerate(self._builtin_modules)}
        order = {name: i for i, name in enumerate(self._entries)}

        def key(name: str) -> tuple[int, int]:
            module = getattr(self._entries[name], "__module__", "")
            return rank.get(module, len(rank)), order[name]

        return tuple(sorted(self._entries, key=key))

    def __contains__(self, name: object) -> bool:
        self._load_builtins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __getitem__(self, index: int) -> str:
        return self.names()[index]

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"


class Choices:
    """Config-field choices: a fixed tuple plus the names of a registry, read when validating."""

    def __init__(self, registry: Registry, extra: tuple[str, ...] = ()):
        self.registry = registry
        self.extra = tuple(extra)

    def names(self) -> tuple[str, ...]:
        return self.extra + self.registry.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __getitem__(self, index: int) -> str:
        return self.names()[index]

    def __contains__(self, value: object) -> bool:
        return value in self.names()

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Choices({self.registry.kind!r})"


MERGE_POLICIES = Registry("merge policy", ("panoptic_ros.panoptic.policies",
                                          "panoptic_ros.panoptic.mask_policies.dense_iou",
                                          "panoptic_ros.panoptic.mask_policies.paste_borderness",
                                          "panoptic_ros.panoptic.mask_policies.mask_heuristic"))
BACKBONES = Registry("backbone", ("panoptic_ros.modeling.backbone", "panoptic_ros.modeling.slim_resnet"))
RUNTIMES = Registry("runtime", ("panoptic_ros.runtime.torch_runtime", "panoptic_ros.runtime.onnxruntime_runtime",
                                "panoptic_ros.runtime.openvino_runtime"))
