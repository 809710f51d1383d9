"""Reading, overriding, validating and writing PanopticConfig (YAML / dict / dotted overrides)."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from .schema import PanopticConfig


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names it."""


def iter_fields(cfg: PanopticConfig) -> Iterator[tuple[str, str, dataclasses.Field, Any]]:
    """Yield (section, name, field, value) for every leaf field."""
    for section in dataclasses.fields(cfg):
        sub = getattr(cfg, section.name)
        for f in dataclasses.fields(sub):
            yield section.name, f.name, f, getattr(sub, f.name)


def check_value(key: str, f: dataclasses.Field, value: Any) -> Any:
    """Coerce value to the field's type and check its choices / range; return the coerced value."""
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    typ = type(default)
    if typ is bool:
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            value = value.lower() in ("true", "1", "yes")
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
    elif typ is int:
        not_digits = isinstance(value, str) and not value.lstrip("-").isdigit()
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not_digits:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ConfigError(f"{key}: expected an integer, got {value!r}")
        value = int(value)
    elif typ is float:
        try:
            if isinstance(value, bool):
                raise ValueError
            value = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
        if value != value:
            raise ConfigError(f"{key}: NaN is not allowed")
    elif typ is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
    elif typ is list:
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
    meta = f.metadata
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(str, meta['choices']))}")
    if meta.get("range") is not None:
        lo, hi = meta["range"]
        if not lo <= value <= hi:
            raise ConfigError(f"{key}: {value!r} is outside [{lo}, {hi}]")
    return value


def _field(cfg: PanopticConfig, key: str) -> tuple[Any, dataclasses.Field]:
    parts = key.split(".")
    if len(parts) != 2 or not hasattr(cfg, parts[0]) or parts[0].startswith("_"):
        raise ConfigError(f"unknown config key {key!r} (expected section.name, e.g. solver.lr)")
    sub = getattr(cfg, parts[0])
    fields = {f.name: f for f in dataclasses.fields(sub)}
    if parts[1] not in fields:
        raise ConfigError(f"unknown config key {key!r}; {parts[0]} has: {', '.join(fields)}")
    return sub, fields[parts[1]]


def set_value(cfg: PanopticConfig, key: str, value: Any) -> None:
    """Set ``section.name`` to value after validation (raises ConfigError)."""
    sub, f = _field(cfg, key)
    setattr(sub, f.name, check_value(key, f, value))


def from_dict(data: dict | None, base: PanopticConfig | None = None) -> PanopticConfig:
    """Build a config from a nested dict {section: {name: value}}; unknown keys are errors."""
    cfg = base if base is not None else PanopticConfig()
    for section, values in (data or {}).items():
        if not isinstance(values, dict):
            raise ConfigError(f"section {section!r} must be a mapping")
        for name, value in values.items():
            set_value(cfg, f"{section}.{name}", value)
    return cfg


def to_dict(cfg: PanopticConfig) -> dict:
    return dataclasses.asdict(cfg)


def read_config_file(path: str | Path) -> dict:
    """The nested dict {section: {name: value}} of a YAML config file (not yet validated; ConfigError names
    a missing file, bad YAML or a top level that is not a mapping)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    for section, values in (data or {}).items():
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: section {section!r} must be a mapping")
    return data or {}


def parse_override(item: str) -> tuple[str, Any]:
    """``section.name=value`` -> (key, value parsed as a YAML scalar / list; empty -> "")."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like section.name=value")
    key, value = item.split("=", 1)
    return key.strip(), yaml.safe_load(value) if value.strip() else ""


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> PanopticConfig:
    """Load a YAML config file (may be None) then apply ``section.name=value`` overrides."""
    cfg = PanopticConfig()
    if path is not None:
        from_dict(read_config_file(path), cfg)
    for item in overrides or []:
        set_value(cfg, *parse_override(item))
    return cfg


def save_config(cfg: PanopticConfig, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
