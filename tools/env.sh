# Source this: activates .venv and the colcon workspace, and keeps DDS traffic on this machine.
_PANOPTIC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "${PANOPTIC_VENV:-$_PANOPTIC_ROOT/.venv}/bin/activate"
export AMENT_PREFIX_PATH="$VIRTUAL_ENV"
. "$_PANOPTIC_ROOT/.ws/install/setup.bash"
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
export RMW_IMPLEMENTATION=${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}
# The source tree first: edits and new modules are live without a rebuild; panoptic_ros.msg is still
# found in the workspace through pkgutil.extend_path (panoptic_ros/__init__.py).
export PYTHONPATH="$_PANOPTIC_ROOT${PYTHONPATH:+:$PYTHONPATH}"
# The reference trackers and metrics the tests compare with (requirements-reference.txt, installed --no-deps by
# setup.sh into a folder of their own: it holds only those four packages, none of which the venv has).
if [ -d "$VIRTUAL_ENV/reference" ]; then export PYTHONPATH="$PYTHONPATH:$VIRTUAL_ENV/reference"; fi
