"""Start panoptic_node on a camera.

    ros2 launch panoptic_ros camera.launch.py image:=/camera/image_raw [params_file:=my.yaml] [namespace:=front]
        [use_sim_time:=true] [image_transport:=compressed] [device:=cuda] [runtime:=openvino] [precision:=fp32]

Thin on purpose: everything else is a node parameter in params_file (default: the package's
params/panoptic.yaml, every parameter with its default). image_transport, device, runtime and precision
override the file only when given. The node applies its Fast DDS large-message profile itself (README, transport).
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

ARGUMENTS = {
    "image": ("/camera/image_raw", "input image topic (with image_transport:=compressed: <image>/compressed)"),
    "params_file": (None, "node parameters file"),
    "namespace": ("", "namespace of the node (outputs: <namespace>/panoptic_node/...)"),
    "use_sim_time": ("false", "use /clock (true when replaying a bag with --clock)"),
    "image_transport": ("", "raw | compressed; empty keeps the params file's value"),
    "device": ("", "auto | cpu | cuda | cuda:N; empty keeps the params file's value"),
    "runtime": ("", "auto | torch | onnxruntime | openvino; empty keeps the params file's value"),
    "precision": ("", "auto | fp32 | bf16 | fp16; empty keeps the params file's value"),
}
OVERRIDES = ("image_transport", "device", "runtime", "precision")   # node parameters set only when given


def _node(context):
    def arg(name):
        return LaunchConfiguration(name).perform(context)

    overrides = {"use_sim_time": arg("use_sim_time").strip().lower() in ("true", "1", "yes")}
    for name in OVERRIDES:
        if arg(name):
            overrides[name] = arg(name)
    return [Node(package="panoptic_ros", executable="panoptic_node", name="panoptic_node",
                 namespace=arg("namespace"), parameters=[arg("params_file"), overrides],
                 remappings=[("image", arg("image"))], output="screen", emulate_tty=True)]


def generate_launch_description():
    default_params = os.path.join(get_package_share_directory("panoptic_ros"), "params", "panoptic.yaml")
    args = [DeclareLaunchArgument(name, default_value=default if default is not None else default_params,
                                  description=text)
            for name, (default, text) in ARGUMENTS.items()]
    return LaunchDescription(args + [OpaqueFunction(function=_node)])
