"""Node parameters come from the config schema: names, descriptors, validation and params/panoptic.yaml."""
import dataclasses
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

rclpy = pytest.importorskip("rclpy")
from rcl_interfaces.msg import ParameterType  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from panoptic_ros.config import ConfigError, InferenceConfig, NodeConfig, PanopticConfig  # noqa: E402
from panoptic_ros.ros import params  # noqa: E402

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[2]
PARAMS_FILE = ROOT / "params" / "panoptic.yaml"


def schema_ros_fields():
    out = {}
    for cls in (InferenceConfig, NodeConfig):
        for f in dataclasses.fields(cls):
            if f.metadata.get("ros"):
                out[f.name] = getattr(cls(), f.name)
    return out


def test_every_ros_field_is_a_parameter_with_its_default():
    declared = {p.name: p.default for p in params.ros_parameters()}
    assert declared == schema_ros_fields()
    assert "nms_threshold" not in declared  # ros=False fields stay out


def test_descriptors_carry_type_range_choices_and_read_only():
    by_name = {p.name: (p, params.descriptor(p)) for p in params.ros_parameters()}
    p, d = by_name["score_threshold"]
    assert d.type == ParameterType.PARAMETER_DOUBLE and not d.read_only
    assert (d.floating_point_range[0].from_value, d.floating_point_range[0].to_value) == p.range
    p, d = by_name["stuff_area_threshold"]
    assert d.type == ParameterType.PARAMETER_INTEGER
    assert (d.integer_range[0].from_value, d.integer_range[0].to_value) == p.range
    _, d = by_name["merge_policy"]
    assert all(policy in d.description for policy in ("highest_confidence", "smallest_first", "closest_center"))
    assert d.type == ParameterType.PARAMETER_STRING and not d.read_only
    for name in ("image_transport", "qos_reliability", "qos_depth", "diagnostics_period"):
        assert by_name[name][1].read_only, name
    for name in ("model", "device", "runtime", "precision", "input_size", "fuse_resolution", "publish_overlay",
                 "overlay_alpha", "unknown_undetected_things"):
        assert not by_name[name][1].read_only, name
    assert by_name["unknown_undetected_things"][1].type == ParameterType.PARAMETER_BOOL
    for name in ("model", "device", "runtime", "precision"):
        assert "reloads the model" in by_name[name][1].description, name
    assert "reloads" not in by_name["fuse_resolution"][1].description
    _, d = by_name["runtime"]
    assert all(r in d.description for r in ("auto", "torch", "onnxruntime", "openvino"))
    assert all(p in by_name["precision"][1].description for p in ("auto", "fp32", "bf16", "fp16"))
    assert "half" not in by_name


def test_params_file_is_the_generated_schema_defaults():
    assert PARAMS_FILE.read_text() == params.params_file_text(), \
        "params/panoptic.yaml is stale: python -m panoptic_ros.cli.node_params --write params/panoptic.yaml"
    data = yaml.safe_load(PARAMS_FILE.read_text())
    values = data["/**"]["ros__parameters"]
    assert values == schema_ros_fields()
    for name, value in values.items():  # same YAML types, so rclpy declares them with the schema's type
        assert type(value) is type(schema_ros_fields()[name]), name


def test_params_cli_check_and_write(tmp_path):
    out = tmp_path / "p.yaml"
    run = [sys.executable, "-m", "panoptic_ros.cli.node_params"]
    assert subprocess.run(run + ["--write", str(out)], capture_output=True, timeout=60).returncode == 0
    assert out.read_text() == params.params_file_text()
    assert subprocess.run(run + ["--check", str(out)], capture_output=True, timeout=60).returncode == 0
    out.write_text(out.read_text().replace("score_threshold: 0.4", "score_threshold: 0.5"))
    bad = subprocess.run(run + ["--check", str(out)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "differs" in bad.stderr


@pytest.mark.parametrize("name, value, reason", [
    ("merge_policy", "biggest", "not one of"),
    ("score_threshold", 1.5, "outside"),
    ("input_size", "large", "expected an integer"),
    ("unknown_undetected_things", "maybe", "expected true or false"),
    ("runtime", "tensorflow", "not one of"),
    ("precision", "int4", "not one of"),
    ("fuse_resolution", "huge", "not one of"),
    ("score_threshold", float("nan"), "NaN"),
    ("score_threshold", "high", "expected a number, got 'high' \\(str\\), e.g. score_threshold: 0.4"),
    ("publish_overlay", 1, "expected true or false, got 1 \\(int\\)"),
    ("input_size", 2.0, "expected an integer"),
])
def test_check_parameters_rejects_with_reason(name, value, reason):
    with pytest.raises(ConfigError, match=reason) as info:
        params.check_parameters([Parameter(name, value=value)])
    assert name in str(info.value)


def test_check_and_apply_values():
    values = params.check_parameters([Parameter("merge_policy", value="smallest_first"),
                                      Parameter("use_sim_time", value=True),   # rclpy's own: ignored
                                      Parameter("overlay_alpha", value=0.25)])
    assert values == {"merge_policy": "smallest_first", "overlay_alpha": 0.25}
    base = PanopticConfig()
    cfg = params.apply_values(base, values)
    assert cfg.inference.merge_policy == "smallest_first" and cfg.node.overlay_alpha == 0.25
    assert base.inference.merge_policy == "closest_center"  # a copy, the base is untouched


@pytest.fixture()
def make_node():
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=random.SystemRandom().randint(1, 100))
    nodes = []

    def make(overrides):
        node = rclpy.create_node("params_test", context=context,
                                 parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])
        nodes.append(node)
        return node
    yield make
    for node in nodes:
        node.destroy_node()
    rclpy.try_shutdown(context=context)


def test_declare_on_a_node_with_overrides_and_runtime_checks(make_node):
    node = make_node({"merge_policy": "smallest_first", "input_size": 320})
    values = params.declare_parameters(node)
    assert values["merge_policy"] == "smallest_first" and values["input_size"] == 320
    assert values["score_threshold"] == InferenceConfig().score_threshold
    # rclpy enforces the descriptors: range and read_only, with a reason
    result = node.set_parameters([Parameter("score_threshold", value=2.0)])[0]
    assert not result.successful and node.get_parameter("score_threshold").value == 0.4
    result = node.set_parameters([Parameter("qos_depth", value=5)])[0]
    assert not result.successful and "read-only" in result.reason
    assert node.set_parameters([Parameter("score_threshold", value=0.25)])[0].successful


@pytest.mark.parametrize("overrides, message", [
    ({"overlay_alpha": 3.0}, "overlay_alpha"),
    ({"merge_policy": "biggest"}, "merge_policy: 'biggest' is not one of"),
    ({"input_size": "big"}, "input_size"),
])
def test_bad_startup_values_raise_parameter_error(make_node, overrides, message):
    node = make_node(overrides)
    with pytest.raises(params.ParameterError, match=message):
        params.declare_parameters(node)


def test_an_integer_for_a_float_parameter_is_stored_as_the_float(make_node):
    """overlay_alpha: 1 in a params file (or -p overlay_alpha:=1) starts the node; read-only ones stay read-only."""
    node = make_node({"overlay_alpha": 1, "diagnostics_period": 2})
    values = params.declare_parameters(node)
    assert values["overlay_alpha"] == 1.0 and isinstance(values["overlay_alpha"], float)
    assert isinstance(node.get_parameter("overlay_alpha").value, float)
    assert isinstance(node.get_parameter("diagnostics_period").value, float)
    assert node.describe_parameter("diagnostics_period").read_only
    assert not node.describe_parameter("overlay_alpha").read_only
    assert [p.value for p in params.coerce_parameters([Parameter("score_threshold", value=1),
                                                       Parameter("input_size", value=3)])] == [1.0, 3]
