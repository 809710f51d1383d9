"""Options of the ROS benchmarks (`panoptic bench ros | soak | cameras`), which live in panoptic_ros.ros.bench.

Why here: argparse stays in cli/; the benchmark modules take an options dataclass and import rclpy, so they are
imported only when one of them runs (the rest of `panoptic bench` works without ROS).
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib

from panoptic_ros.bench.args import DEFAULT_SIZES, image_size


def _size(text: str) -> tuple[int, int]:
    return image_size(text, minimum=16)


def add_overhead_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="checkpoint (default: the shipped model)")
    parser.add_argument("--device", help="auto | cpu | cuda | cuda:N (default: the checkpoint's)")
    parser.add_argument("--runtime", default=None, help="network runtime, as the node's runtime parameter "
                                                        "(auto | torch | onnxruntime | openvino; default auto)")
    parser.add_argument("--precision", default=None, help="auto | fp32 | bf16 | fp16 (default auto)")
    parser.add_argument("--sizes", nargs="+", type=_size, default=[_size(s) for s in DEFAULT_SIZES], metavar="WxH",
                        help="camera frame sizes (default: 640x480 1280x720)")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per stage and size")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic scene")


def add_soak_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="checkpoint or exported model (default: the shipped model)")
    parser.add_argument("--frames", type=int, default=10000, help="frames to publish (default 10000)")
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate in Hz (default 30)")
    parser.add_argument("--warmup", type=int, default=100, help="frames before the reference RSS sample")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--scenes", type=int, default=8, help="distinct synthetic scenes, cycled")
    parser.add_argument("--sample-every", type=float, default=1.0, metavar="S", help="RSS sampling period (s)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="node parameter, e.g. --param runtime:=torch (repeatable)")
    parser.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: random 1-100)")
    parser.add_argument("--start-timeout", type=float, default=120.0, help="seconds for the node to get ready")
    parser.add_argument("--seed", type=int, default=0)


def add_cameras_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="checkpoint (default: the shipped model)")
    parser.add_argument("--device", help="node parameter device (default: the params file's)")
    parser.add_argument("--runtime", help="node parameter runtime (default: the params file's)")
    parser.add_argument("--precision", help="node parameter precision (default: the params file's)")
    parser.add_argument("--cameras", nargs="+", type=int, default=[1, 2, 4], help="camera counts (default 1 2 4)")
    parser.add_argument("--size", type=image_size, default=(640, 480), metavar="WxH", help="frame size (640x480)")
    parser.add_argument("--rate", type=float, default=30.0, help="frames per second per camera (default 30)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per run (default 20)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring (default 5)")
    parser.add_argument("--threads", type=int, default=0,
                        help="OMP_NUM_THREADS of every node process (torch intra-op threads, and so the OpenVINO / "
                             "ONNX Runtime threads); 0 = inherited (default)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="extra node parameter for every node (repeatable)")
    parser.add_argument("--start-timeout", type=float, default=300.0, help="seconds to wait for the nodes to start")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic scenes")


class RosBenchmark:
    """A ROS benchmark as `panoptic bench` runs it: module panoptic_ros.ros.bench.<module> with run(options), its
    options dataclass, its arguments, and its description (__doc__: the module's own needs rclpy to import)."""

    def __init__(self, module: str, options: str, add_arguments, summary: str):
        self.module, self.options, self.add_arguments, self.__doc__ = module, options, add_arguments, summary

    def run(self, args: argparse.Namespace) -> dict:
        mod = importlib.import_module(f"panoptic_ros.ros.bench.{self.module}")
        options_type = getattr(mod, self.options)
        names = {f.name for f in dataclasses.fields(options_type)}
        return mod.run(options_type(**{k: v for k, v in vars(args).items() if k in names}))


ROS_BENCHMARKS = {
    "ros": RosBenchmark("overhead", "OverheadOptions", add_overhead_arguments,
                        "Per-frame overhead of the ROS side of panoptic_node (decode, outputs, serialization) as a "
                        "fraction of the model time; OUT/ros.json and OUT/ros.png."),
    "soak": RosBenchmark("soak", "SoakOptions", add_soak_arguments,
                         "Soak test of the installed panoptic_node: N frames at a camera rate, the node's memory "
                         "over the run; OUT/soak.json and OUT/soak.png."),
    "cameras": RosBenchmark("multi_camera", "MultiCameraOptions", add_cameras_arguments,
                            "Several cameras: one panoptic_node batching N cameras vs N separate single-camera "
                            "nodes; OUT/cameras.json and OUT/cameras.png."),
}
