"""panoptic_node: camera images in, panoptic segmentation out (one camera or several, batched).

Subscribes  image (sensor_msgs/Image) or, with image_transport=compressed, <image>/compressed
            (sensor_msgs/CompressedImage), reliability per qos_reliability (auto follows the publishers);
            with parameter `images` (a list of TOPIC or NAME=TOPIC) one such input per camera instead.
            With use_depth: per camera <prefix>depth (sensor_msgs/Image 16UC1 mm / 32FC1 m, registered to the
            colour image) and <prefix>camera_info (sensor_msgs/CameraInfo), prefix "" or "<camera>/", with the
            reliability of their publishers too.
Publishes   per camera every output of outputs.OUTPUTS under ~/ (one camera) or ~/<camera>/ (several):
            panoptic, semantic, instances, overlay, semantic_color, panoptic_color (see outputs.py), each with
            its input's header; on-demand ones (overlay, the colour images) only when subscribed or
            publish_<name> is true; with use_depth instances_3d (+
            markers and points when subscribed); ~/labels (panoptic_ros/PanopticLabelArray, latched, again
            on every model change); /diagnostics (one status per camera).

The parts (one job each):
  entry.py         PanopticNode (all at construction), run / main of the executables
  lifecycle.py     PanopticLifecycleNode (configure / activate / deactivate / cleanup)
  core.py          the construction and teardown steps both classes take
  parameters.py    parameter callback; model / device / runtime / precision loaded in the background
                   (model_loading.py), switched when ready, set back (logged, counted) when the load fails
  model_slot.py    the FrameProcessor frames run with, swapped whole; a replaced model closed after its last batch
  inputs.py        cameras, subscriptions with QoS matched to the publishers, depth inputs, watchdog
  frame_flow.py    the one way of a frame: slot -> inference thread (decode, predict) -> output thread
                   (depth match, track, build, publish); batching.py and output_stage.py are its two threads
  publishing.py    the output publishers and publishing a finished frame (2D and 3D)
  status.py        /diagnostics and the "ready:" line
The per-frame chain itself (predict -> track -> output frame, 3D with depth) is panoptic_ros.stream, shared with
`panoptic bag eval` and the overhead benchmark. Frames declaring more than max_input_pixels are rejected and
counted ("frames too large"). Timers run on the steady clock, so they fire with use_sim_time and no or paused
/clock; output stamps are always the input's.
"""
from ..names import NODE_NAME
from .core import SHUTDOWN_FRAME_WAIT, PanopticNodeCore
from .entry import PanopticNode, main, run
from .lifecycle import PanopticLifecycleNode
from .log import ReasonThrottle

__all__ = ["NODE_NAME", "SHUTDOWN_FRAME_WAIT", "PanopticLifecycleNode", "PanopticNode", "PanopticNodeCore",
           "ReasonThrottle", "main", "run"]
