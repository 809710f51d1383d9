"""Names of the installed node that the node itself, the demo and the benchmarks share (no ROS import)."""

NODE_NAME = "panoptic_node"   # both executables (plain and lifecycle) run under this name: same output topics
NODE_EXECUTABLE = "panoptic_node"
LIFECYCLE_EXECUTABLE = "panoptic_lifecycle_node"
