"""Start panoptic_node on a camera (or several), plain or managed.

    ros2 launch panoptic_ros camera.launch.py image:=/camera/image_raw [params_file:=my.yaml] [namespace:=front]
        [use_sim_time:=true] [image_transport:=compressed] [device:=cuda] [runtime:=openvino] [precision:=fp32]
        [images:=front=/front/image_raw,/rear/image_raw] [use_depth:=true]
        [lifecycle:=true [autostart:=false]]

Thin on purpose: everything else is a node parameter in params_file (default: the package's
params/panoptic.yaml, every parameter with its default). image_transport, device, runtime, precision, images
(comma-separated TOPIC or NAME=TOPIC entries: several cameras in one node) and use_depth override the file only
when given. lifecycle:=true starts panoptic_lifecycle_node (a managed node, same parameters and topics) and, with
autostart (default true), configures and activates it; autostart:=false leaves that to a lifecycle manager or
`ros2 lifecycle set /panoptic_node configure` / `activate`. The node applies its Fast DDS large-message profile
itself (README, transport).

node_settings() holds the logic and imports nothing from launch, so it is tested without launch installed
(test/test_packaging.py).
"""
import os

ARGUMENTS = {
    "image": ("/camera/image_raw", "input image topic (with image_transport:=compressed: <image>/compressed)"),
    "params_file": (None, "node parameters file"),
    "namespace": ("", "namespace of the node (outputs: <namespace>/panoptic_node/...)"),
    "use_sim_time": ("false", "use /clock (true when replaying a bag with --clock)"),
    "image_transport": ("", "raw | compressed; empty keeps the params file's value"),
    "device": ("", "auto | cpu | cuda | cuda:N; empty keeps the params file's value"),
    "runtime": ("", "auto | torch | onnxruntime | openvino; empty keeps the params file's value"),
    "precision": ("", "auto | fp32 | bf16 | fp16; empty keeps the params file's value"),
    "images": ("", "several cameras in one node: comma-separated TOPIC or NAME=TOPIC entries (outputs under "
                   "~/<name>/); empty keeps the params file's value"),
    "use_depth": ("", "true | false: depth + camera_info inputs and ~/instances_3d; empty keeps the params file's"),
    "lifecycle": ("false", "true: start the managed node panoptic_lifecycle_node"),
    "autostart": ("true", "with lifecycle:=true: configure and activate it at launch"),
}
OVERRIDES = ("image_transport", "device", "runtime", "precision")   # node parameters set only when given
NODE_NAME = "panoptic_node"


def _true(text: str) -> bool:
    return str(text).strip().lower() in ("true", "1", "yes")


def node_settings(args: dict) -> dict:
    """What to start for the launch arguments' values (strings): executable, lifecycle, autostart, name, namespace,
    parameters (the params file, then the overrides) and remappings."""
    overrides = {"use_sim_time": _true(args["use_sim_time"])}
    for name in OVERRIDES:
        if args.get(name):
            overrides[name] = args[name]
    if args.get("images", "").strip():
        overrides["images"] = [e.strip() for e in args["images"].split(",") if e.strip()]
    if args.get("use_depth", "").strip():
        overrides["use_depth"] = _true(args["use_depth"])
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
