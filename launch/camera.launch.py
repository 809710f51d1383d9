"""Start panoptic_node on a camera (or several), plain or managed.

    ros2 launch panoptic_ros camera.launch.py image:=/camera/image_raw [params_file:=my.yaml] [namespace:=front]
        [model:=my.safetensors] [merge_policy:=highest_confidence] [score_threshold:=0.5] [runtime:=openvino]
        [precision:=fp32] [num_threads:=2] [publish_overlay:=true] [device:=cuda] [image_transport:=compressed]
        [use_depth:=true] [use_sim_time:=true] [images:=front=/front/image_raw,/rear/image_raw]
        [lifecycle:=true [autostart:=false]]

Thin on purpose: every node parameter is in params_file (default: the package's params/panoptic.yaml, every
parameter with its default); the common ones are also launch arguments (PARAMETER_ARGUMENTS, described from the
config schema, checked and typed by it: score_threshold:=1 is the float 1.0, a word for a number stops the launch
with the node's one-line reason) that override the file only when given, so no copy of the file is needed for
them. images (comma-separated TOPIC or NAME=TOPIC entries: several cameras in one node). lifecycle:=true starts
panoptic_lifecycle_node (a managed node, same parameters and topics) and, with autostart (default true),
configures and activates it; autostart:=false leaves that to a lifecycle manager or
`ros2 lifecycle set /panoptic_node configure` / `activate`. The node applies its Fast DDS large-message profile
itself (README, transport).

node_settings() holds the logic and imports nothing from launch, so it is tested without launch installed
(test/ros/test_launch_arguments.py).
"""
import os

import yaml

from panoptic_ros.ros import params

# node parameters settable as launch arguments: empty (the default) keeps the params file's value
PARAMETER_ARGUMENTS = ("model", "merge_policy", "score_threshold", "runtime", "precision", "num_threads",
                       "publish_overlay", "device", "image_transport", "use_depth")
LAUNCH_ARGUMENTS = {
    "image": ("/camera/image_raw", "input image topic (with image_transport:=compressed: <image>/compressed)"),
    "params_file": (None, "node parameters file"),
    "namespace": ("", "namespace of the node (outputs: <namespace>/panoptic_node/...)"),
    "use_sim_time": ("false", "use /clock (true when replaying a bag with --clock)"),
    "images": ("", "several cameras in one node: comma-separated TOPIC or NAME=TOPIC entries (outputs under "
                   "~/<name>/); empty keeps the params file's value"),
    "lifecycle": ("false", "true: start the managed node panoptic_lifecycle_node"),
    "autostart": ("true", "with lifecycle:=true: configure and activate it at launch"),
}
NODE_NAME = "panoptic_node"


def arguments() -> dict:
    """Every launch argument: name -> (default, description); parameter arguments described by the schema."""
    known = params.parameter_by_name()
    out = dict(LAUNCH_ARGUMENTS)
    for name in PARAMETER_ARGUMENTS:
        out[name] = ("", f"node parameter: {known[name].describe()}; empty keeps the params file's value")
    return out


ARGUMENTS = arguments()
OVERRIDES = PARAMETER_ARGUMENTS         # older name of the parameter arguments (test/test_packaging.py)


def _true(text: str) -> bool:
    return str(text).strip().lower() in ("true", "1", "yes")


def parameter_value(name: str, text: str):
    """A launch argument's text as the node parameter's typed value (params.ParameterError, one line, if bad)."""
    p = params.parameter_by_name()[name]
    value = text if isinstance(p.default, str) else yaml.safe_load(text)
    try:
        return params.check_parameter(p, value)
    except params.ConfigError as exc:
        raise params.ParameterError(f"launch argument {exc}") from None


def node_settings(args: dict) -> dict:
    """What to start for the launch arguments' values (strings): executable, lifecycle, autostart, name, namespace,
    parameters (the params file, then the overrides) and remappings."""
    overrides = {"use_sim_time": _true(args["use_sim_time"])}
    for name in PARAMETER_ARGUMENTS:
        if str(args.get(name, "")).strip():
            overrides[name] = parameter_value(name, str(args[name]).strip())
    if args.get("images", "").strip():
        overrides["images"] = [e.strip() for e in args["images"].split(",") if e.strip()]
    lifecycle = _true(args.get("lifecycle", "false"))
    return {"executable": "panoptic_lifecycle_node" if lifecycle else "panoptic_node", "lifecycle": lifecycle,
            "autostart": lifecycle and _true(args.get("autostart", "true")), "name": NODE_NAME,
            "namespace": args["namespace"], "parameters": [args["params_file"], overrides],
            "remappings": [("image", args["image"])]}


def _node(context):
    from launch.actions import EmitEvent, RegisterEventHandler
    from launch.events import matches_action
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import LifecycleNode, Node
    from launch_ros.event_handlers import OnStateTransition
    from launch_ros.events.lifecycle import ChangeState
    from lifecycle_msgs.msg import Transition

    settings = node_settings({name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS})
    common = {"package": "panoptic_ros", "executable": settings["executable"], "name": settings["name"],
              "namespace": settings["namespace"], "parameters": settings["parameters"],
              "remappings": settings["remappings"], "output": "screen", "emulate_tty": True}
    if not settings["lifecycle"]:
        return [Node(**common)]
    node = LifecycleNode(**common)
    actions = [node]
    if settings["autostart"]:
        def transition(transition_id):
            return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                               transition_id=transition_id))
        actions += [RegisterEventHandler(OnStateTransition(target_lifecycle_node=node, goal_state="inactive",
                                                           entities=[transition(Transition.TRANSITION_ACTIVATE)])),
                    transition(Transition.TRANSITION_CONFIGURE)]
    return actions


def generate_launch_description():
    from ament_index_python.packages import get_package_share_directory
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    from launch import LaunchDescription

    default_params = os.path.join(get_package_share_directory("panoptic_ros"), "params", "panoptic.yaml")
    args = [DeclareLaunchArgument(name, default_value=default if default is not None else default_params,
                                  description=text)
            for name, (default, text) in ARGUMENTS.items()]
    return LaunchDescription(args + [OpaqueFunction(function=_node)])
