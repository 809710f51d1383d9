"""ROS parameters of panoptic_node, declared from the config schema (panoptic_ros/config/schema.py).

Every field of InferenceConfig and NodeConfig whose metadata has ros=True becomes a parameter of the same
name, with a descriptor built from the metadata (description with the help text and the choices, integer /
floating point range, read_only). No default or range is written here: the schema is the one source.

Which parameters change while the node runs:
- fields marked runtime=True (thresholds, merge_policy, fuse_resolution, overlay settings): from the next frame;
- input_size: an argument of predict(), so also from the next frame;
- model, device, runtime and precision: the node loads the model again; a failed load rejects the change with
  the reason and the old model keeps running;
- the rest (image_transport, qos_*, diagnostics_period, images, max_batch, use_depth, depth_tolerance) shape the
  subscriptions / timers: read-only,
  set them in the parameters file or on the command line.

params/panoptic.yaml (every parameter with its default) is generated from the same list:
    python -m panoptic_ros.ros.params --write params/panoptic.yaml      (--check to compare)
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from panoptic_ros.config import ConfigError, PanopticConfig, check_value, iter_fields

SECTIONS = ("inference", "node")
RELOAD_PARAMETERS = ("model", "device", "runtime", "precision")   # applied by loading the model again
PER_FRAME_PARAMETERS = ("input_size",)           # predict() arguments, applied from the next frame


class ParameterError(ValueError):
    """A parameter value given at start-up (parameters file / command line) is invalid; names it."""


@dataclass(frozen=True)
class RosParameter:
    """One node parameter and the config field it sets."""
    name: str                       # ROS parameter name (= field name)
    key: str                        # config key, section.name
    field: dataclasses.Field
    default: Any

    @property
    def help(self) -> str:
        return self.field.metadata.get("help", "")

    @property
    def choices(self) -> tuple | None:
        return self.field.metadata.get("choices")

    @property
    def range(self) -> tuple | None:
        return self.field.metadata.get("range")

    @property
    def changeable(self) -> bool:
        """True when the node accepts changes while running (see module docstring)."""
        return bool(self.field.metadata.get("runtime")) or self.name in RELOAD_PARAMETERS + PER_FRAME_PARAMETERS

    def describe(self) -> str:
        """Help text with the choices and when a change takes effect."""
        text = self.help
        if self.choices:
            text += f" (one of: {', '.join(map(str, self.choices))})"
        if self.name in RELOAD_PARAMETERS:
            text += "; changing it reloads the model (refused if the load fails)"
        elif not self.changeable:
            text += "; read-only while running: set it in the parameters file"
        return text


def ros_parameters(cfg: PanopticConfig | None = None) -> list[RosParameter]:
    """The node's parameters in schema order; defaults from cfg (default: the schema defaults)."""
    cfg = cfg if cfg is not None else PanopticConfig()
    out, seen = [], {}
    for section, name, f, value in iter_fields(cfg):
        if section in SECTIONS and f.metadata.get("ros"):
            if name in seen:
                raise RuntimeError(f"ROS parameter name {name!r} is used by both {seen[name]} and {section}.{name}")
            seen[name] = f"{section}.{name}"
            out.append(RosParameter(name, f"{section}.{name}", f, value))
    return out


def parameter_by_name() -> dict[str, RosParameter]:
    return {p.name: p for p in ros_parameters()}


def descriptor(p: RosParameter):
    """rcl_interfaces/ParameterDescriptor of a parameter (type, description, range, read_only)."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType

    types = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER,
             float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING,
             list: ParameterType.PARAMETER_STRING_ARRAY}
    d = ParameterDescriptor(name=p.name, type=types[type(p.default)], description=p.describe(),
                            read_only=not p.changeable)
    if p.choices:
        d.additional_constraints = "one of: " + ", ".join(map(str, p.choices))
    if p.range is not None:
        lo, hi = p.range
        if isinstance(p.default, float):
            d.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
        elif isinstance(p.default, int) and not isinstance(p.default, bool):
            d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=0)]
        d.additional_constraints = f"range [{lo}, {hi}]"
    return d


def declare_parameters(node) -> dict[str, Any]:
    """Declare every parameter on an rclpy node; return {name: value} after overrides, each checked
    against the schema. ParameterError names a bad value given in the parameters file / command line."""
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
    from rclpy.parameter import Parameter

    values = {}
    for p in ros_parameters():
        # a list parameter is a string array; an empty default cannot carry its type, so it is declared by type
        # (unset = the empty default)
        default = Parameter.Type.STRING_ARRAY if isinstance(p.default, list) and not p.default else p.default
        try:
            param = node.declare_parameter(p.name, default, descriptor(p))
        except InvalidParameterTypeException as exc:
            raise ParameterError(f"parameter {p.name}: {exc} (write it as a {type(p.default).__name__}, "
                                 f"e.g. {p.name}: {yaml_scalar(p.default)})") from None
        except InvalidParameterValueException as exc:
            allowed = f" (allowed range [{p.range[0]}, {p.range[1]}])" if p.range is not None else ""
            text = str(exc.args[0] if exc.args else exc).removesuffix(f": {p.name}")
            raise ParameterError(f"parameter {p.name}: {text}{allowed}") from None
        value = param.value
        if isinstance(p.default, list):
            value = [] if value is None else list(value)
        try:
            values[p.name] = check_value(p.name, p.field, value)
        except ConfigError as exc:
            raise ParameterError(f"parameter {exc}") from None
    return values


def check_parameters(parameters: Iterable) -> dict[str, Any]:
    """Validate rclpy Parameters (name, value) against the schema -> {name: coerced value}.

    Raises ConfigError naming the parameter and the reason (unknown name, wrong type, not a choice, out of
    range); used by the node's on-set-parameters callback to reject a change with that reason.
    """
    known = parameter_by_name()
    out = {}
    for param in parameters:
        if param.name not in known:
            continue  # use_sim_time and other parameters rclpy owns
        value = param.value
        if isinstance(known[param.name].default, list) and value is not None:
            value = list(value)
        out[param.name] = check_value(param.name, known[param.name].field, value)
    return out


def apply_values(cfg: PanopticConfig, values: dict[str, Any]) -> PanopticConfig:
    """A copy of cfg with the parameter values set (they are already checked)."""
    cfg = _copy(cfg)
    known = parameter_by_name()
    for name, value in values.items():
        section, field_name = known[name].key.split(".")
        setattr(getattr(cfg, section), field_name, value)
    return cfg


def _copy(cfg: PanopticConfig) -> PanopticConfig:
    return dataclasses.replace(cfg, **{f.name: dataclasses.replace(getattr(cfg, f.name))
                                       for f in dataclasses.fields(cfg)})


# ------------------------------------------------------------------------------------- params file
def yaml_scalar(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("\n...").removesuffix("...").strip()


def params_file_text() -> str:
    """The text of params/panoptic.yaml: every node parameter with its schema default and help."""
    lines = [
        "# Parameters of panoptic_node, each with its default. Generated from panoptic_ros/config/schema.py:",
        "#   python -m panoptic_ros.ros.params --write params/panoptic.yaml",
        "# Copy this file to change values; test/ros/test_params.py checks it matches the schema.",
        "/**:",
        "  ros__parameters:",
    ]
    section = None
    for p in ros_parameters():
        this_section = p.key.split(".")[0]
        if this_section != section:
            section = this_section
            lines.append(f"    # --- {section} ---")
        note = p.describe()
        if p.range is not None:
            note += f"; range [{p.range[0]}, {p.range[1]}]"
        lines.append(f"    # {note}")
        lines.append(f"    {p.name}: {yaml_scalar(p.default)}")
    return "\n".join(lines) + "\n"
