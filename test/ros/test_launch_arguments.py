"""camera.launch.py's arguments (issue 20 item 2): the common node parameters are launch arguments, each a real
node parameter, typed and checked by the schema, given to the node only when set.

launch / launch_ros are not installed here, so the file is read as a module (its launch imports are inside
functions) and its node_settings() is what the launch would pass to the node; the typed overrides are then
declared on a real rclpy node, as the node does at start-up.
"""
import ast
import importlib.util
import random

import pytest
from conftest import ROOT

from panoptic_ros.ros import params

LAUNCH_FILE = ROOT / "launch" / "camera.launch.py"
ISSUE_ARGUMENTS = {"model", "merge_policy", "score_threshold", "runtime", "precision", "publish_overlay",
                   "num_threads"}
LAUNCH_ONLY = {"image", "params_file", "namespace", "use_sim_time", "images", "lifecycle", "autostart"}


@pytest.fixture(scope="module")
def launch():
    spec = importlib.util.spec_from_file_location("camera_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def settings(launch, **given):
    args = {name: (default if default is not None else "/share/params/panoptic.yaml")
            for name, (default, _) in launch.ARGUMENTS.items()}
    return launch.node_settings({**args, **given})


def test_declared_arguments_are_node_parameters_or_launch_settings(launch):
    names = set(launch.ARGUMENTS)
    assert ISSUE_ARGUMENTS <= names
    known = params.parameter_by_name()
    for name in names - LAUNCH_ONLY:
        assert name in known, f"launch argument {name} is not a node parameter"
        assert known[name].help in launch.ARGUMENTS[name][1]        # described by the schema
    # generate_launch_description declares every entry of ARGUMENTS (and nothing else)
    tree = ast.parse(LAUNCH_FILE.read_text())
    declares = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") ==
                "DeclareLaunchArgument"]
    assert len(declares) == 1 and isinstance(declares[0].args[0], ast.Name)
    loop = next(n for n in ast.walk(tree) if isinstance(n, ast.ListComp) and declares[0] in ast.walk(n.elt))
    assert ast.unparse(loop.generators[0].iter) == "ARGUMENTS.items()"


def test_parameter_arguments_typed_by_the_schema_and_only_when_given(launch):
    assert settings(launch)["parameters"][1] == {"use_sim_time": False}
    overrides = settings(launch, model="/m/my.safetensors", merge_policy="highest_confidence", score_threshold="1",
                         runtime="openvino", precision="fp32", publish_overlay="true", num_threads="2")[
                             "parameters"][1]
    assert overrides == {"use_sim_time": False, "model": "/m/my.safetensors", "merge_policy": "highest_confidence",
                         "score_threshold": 1.0, "runtime": "openvino", "precision": "fp32",
                         "publish_overlay": True, "num_threads": 2}
    assert isinstance(overrides["score_threshold"], float) and isinstance(overrides["num_threads"], int)


@pytest.mark.parametrize("name, text, reason", [
    ("score_threshold", "high", "launch argument score_threshold: expected a number, got 'high'"),
    ("merge_policy", "biggest", "'biggest' is not one of"),
    ("num_threads", "two", "expected an integer"),
    ("publish_overlay", "maybe", "expected true or false"),
])
def test_bad_argument_stops_the_launch_with_one_line(launch, name, text, reason):
    with pytest.raises(params.ParameterError, match=reason):
        settings(launch, **{name: text})


def test_the_node_declares_the_overrides_as_given(launch):
    """The overrides the launch passes start a real rclpy node's parameters with these values (no type error)."""
    rclpy = pytest.importorskip("rclpy")
    from rclpy.parameter import Parameter

    overrides = settings(launch, merge_policy="smallest_first", score_threshold="0.55", num_threads="1",
                         publish_overlay="true", precision="fp32")["parameters"][1]
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=random.SystemRandom().randint(1, 100))
    try:
        node = rclpy.create_node("launch_args_test", context=context,
                                 parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])
        values = params.declare_parameters(node)
        assert {k: values[k] for k in overrides if k != "use_sim_time"} == {
            "merge_policy": "smallest_first", "score_threshold": 0.55, "num_threads": 1, "publish_overlay": True,
            "precision": "fp32"}
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
