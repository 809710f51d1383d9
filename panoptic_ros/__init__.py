"""panoptic_ros: real-time single-shot panoptic segmentation (core library; imports no ROS module).

The ROS 2 adapter lives in ``panoptic_ros.ros``; the generated messages in ``panoptic_ros.msg``
(present once the colcon workspace is built and sourced).
"""
import pkgutil

# The colcon install holds the generated panoptic_ros.msg beside a copy of this package; span both
# so that the source tree (pip -e) and the installed tree see the same messages.
__path__ = pkgutil.extend_path(__path__, __name__)

__version__ = "0.1.0"
