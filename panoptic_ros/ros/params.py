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

Types: the descriptors are dynamically typed so the schema, not rclpy, judges a value's type: an integer for a
float parameter is accepted (stored as a float: at start-up, and at run time from Iron on through a pre-set
callback; Humble stores the integer and the node uses it as a float), any other wrong type gets the same one-line
reason at start-up and from `ros2 param set` (parameter_type_error), never rclpy's "Wrong parameter type".

params/panoptic.yaml (every parameter with its default) is generated from the same list:
    python -m panoptic_ros.cli.node_params --write params/panoptic.yaml      (--check to compare)
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
    # dynamic_typing: the type is checked by parameter_type_error (one message at start-up and at run time);
    # not for lists (string arrays, declared by type, which rclpy forbids with dynamic typing; all read-only)
    d = ParameterDescriptor(name=p.name, type=types[type(p.default)], description=p.describe(),
                            read_only=not p.changeable, dynamic_typing=not isinstance(p.default, list))
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
    against the schema. ParameterError names a bad value given in the parameters file / command line. An integer
    given for a float parameter is stored as the float."""
    from rclpy.exceptions import InvalidParameterValueException
    from rclpy.parameter import Parameter

    values = {}
    for p in ros_parameters():
        # a list parameter is a string array; an empty default cannot carry its type, so it is declared by type
        # (unset = the empty default)
        default = Parameter.Type.STRING_ARRAY if isinstance(p.default, list) and not p.default else p.default
        final = descriptor(p)
        writable = descriptor(p)
        if final.dynamic_typing:        # read-only after the value is stored in its schema type (set_descriptor)
            writable.read_only = False
        try:
            param = node.declare_parameter(p.name, default, writable)
        except InvalidParameterValueException as exc:
            allowed = f" (allowed range [{p.range[0]}, {p.range[1]}])" if p.range is not None else ""
            text = str(exc.args[0] if exc.args else exc).removesuffix(f": {p.name}")
            raise ParameterError(f"parameter {p.name}: {text}{allowed}") from None
        value = param.value
        if isinstance(p.default, list):
            value = [] if value is None else list(value)
        try:
            values[p.name] = check_parameter(p, value)
        except ConfigError as exc:
            raise ParameterError(f"parameter {exc}") from None
        if type(values[p.name]) is not type(value):          # 1 for a float parameter: store 1.0
            node.set_parameters([Parameter(p.name, value=values[p.name])])
        if final.read_only and not writable.read_only:
            node.set_descriptor(p.name, final)
    return values


def parameter_type_error(p: RosParameter, value: Any) -> str | None:
    """None when value has the parameter's type (an integer counts for a float), else the one-line reason
    (the same at start-up and at run time)."""
    want = type(p.default)
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        return None
    if want is list and isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return None
    if type(value) is want:
        return None
    kind = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
            list: "a list of strings"}[want]
    return f"{p.name}: expected {kind}, got {value!r} ({type(value).__name__}), e.g. {p.name}: {yaml_scalar(p.default)}"


def check_parameter(p: RosParameter, value: Any) -> Any:
    """The value coerced to the schema's type after the type, choices and range checks (ConfigError)."""
    error = parameter_type_error(p, value)
    if error is not None:
        raise ConfigError(error)
    return check_value(p.name, p.field, value)


def coerce_parameters(parameters: list) -> list:
    """Pre-set callback (Iron and later): integers given for float parameters become floats, so they are
    stored (and range-checked by rclpy) as the double the descriptor names."""
    from rclpy.parameter import Parameter

    known = parameter_by_name()
    out = []
    for param in parameters:
        p = known.get(param.name)
        value = param.value
        if p is not None and type(p.default) is float and isinstance(value, int) and not isinstance(value, bool):
            param = Parameter(param.name, value=float(value))
        out.append(param)
    return out


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
        out[param.name] = check_parameter(known[param.name], value)
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
        "#   python -m panoptic_ros.cli.node_params --write params/panoptic.yaml",
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
