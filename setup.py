"""pip install of the ROS-free library and its `panoptic` command (no messages, no node).

colcon ignores this file: package.xml declares build_type ament_cmake.
"""
from setuptools import find_packages, setup

setup(
    name="panoptic_ros",
    version="0.1.0",
    description="Single-shot panoptic segmentation: model, panoptic head, training, evaluation (ROS 2 node optional)",
    packages=find_packages(include=["panoptic_ros", "panoptic_ros.*"]),
    package_data={"panoptic_ros": ["weights/*.safetensors", "weights/*.json", "configs/*.yaml", "ros/*.xml"]},
    python_requires=">=3.10",
    license="Apache-2.0",
    install_requires=["torch>=2.1", "torchvision>=0.16", "numpy", "safetensors", "pyyaml", "tqdm",
                      "opencv-python-headless", "pycocotools", "matplotlib", "scipy"],
    extras_require={"bag": ["rosbags", "rosbags-image"], "tensorboard": ["tensorboard"],
                    "datasets": ["cityscapesscripts"],
                    # network runtimes, export and int8 quantization (panoptic_ros.runtime / panoptic_ros.export)
                    "runtimes": ["onnx", "onnxruntime", "openvino", "nncf"]},
    entry_points={"console_scripts": ["panoptic = panoptic_ros.cli.main:main"]},
)
