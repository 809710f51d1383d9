"""PanopticNodeCore: the node's parts put together, in the steps both node classes take.

Steps: _init_core (parameters, cameras, parameter callback) -> _load_first_model -> _create_outputs ->
_start_inputs; and back: _stop_inputs -> _destroy_outputs -> _drop_model. PanopticNode (entry.py) takes them
all at construction, PanopticLifecycleNode (lifecycle.py) per transition.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.clock import Clock, ClockType
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

try:  # Jazzy and later
    from rclpy.event_handler import PublisherEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import PublisherEventCallbacks

from panoptic_ros.panoptic.policies import PolicyUnavailable

from .. import conversions, labels, params, qos
from ..model_loading import BackgroundLoad, ModelLoadError, PipelineLoader
from ..palette import PaletteError, load_palette
from . import publishing
from .frame_flow import FrameFlow
from .inputs import NO_FRAME_WARN_AFTER, InputHandling
from .log import WARN_THROTTLE, NodeLog
from .model_slot import ModelSlot, check_policy
from .parameters import ParameterHandling
from .status import StatusReporting

GRAPH_CHECK_PERIOD = 1.0      # s between checks of the input topic's publishers (auto QoS, watchdog)
SHUTDOWN_FRAME_WAIT = 3.0     # s shutdown waits for the frame in inference before abandoning it


class PanopticNodeCore(InputHandling, ParameterHandling, StatusReporting):
    """The node's behaviour, mixed into an rclpy Node (PanopticNode) or LifecycleNode (PanopticLifecycleNode)."""

    # ------------------------------------------------------------------------------- construction steps
    def _init_core(self, model_loader=None) -> None:
        self._closing = False
        self._log = NodeLog(self, lambda: self._closing)
        self._warn = self._log.warn
        self._slot = ModelSlot(self._log.warn)
        self._loader = model_loader if model_loader is not None else PipelineLoader(self._log.info)
        self._values = params.declare_parameters(self)
        try:
            self._slot.palette = load_palette(self._values["palette"])
        except PaletteError as exc:
            raise params.ParameterError(f"parameter {exc}") from None
        self._loading: BackgroundLoad | None = None
        self._flow: FrameFlow | None = None
        self._batch_sizes: deque[int] = deque(maxlen=200)     # frames per network call (diagnostics)
        self._timers: list = []
        self._pub_labels = None
        self._pub_diagnostics = None
        self._transport = self._values["image_transport"]
        self._msg_type = CompressedImage if self._transport == "compressed" else Image
        self.cameras = self._make_cameras()
        self._load_done = self.create_guard_condition(self._finish_load)
        if hasattr(self, "add_pre_set_parameters_callback"):   # Iron and later: 1 for a float is stored as 1.0
            self.add_pre_set_parameters_callback(params.coerce_parameters)
        self.add_on_set_parameters_callback(self._on_set_parameters)

    @property
    def _settings(self):
        """The FrameProcessor frames run with now (model and config), None when no model is loaded."""
        return self._slot.current

    def _load_first_model(self) -> None:
        """Load the model of the current parameters (ModelLoadError / ParameterError with one line)."""
        try:
            model = self._loader.load(self._values)
        except ModelLoadError:
            raise
        except Exception as exc:  # noqa: BLE001 - an injected loader's own error: same one-line start-up error
            raise ModelLoadError(str(exc)) from None
        try:
            check_policy(model, self._values["merge_policy"])
        except PolicyUnavailable as exc:
            self._slot.close_model(model)
            raise params.ParameterError(f"parameter merge_policy: {exc}") from None
        with self._slot.lock:
            self._slot.set(model, self._values)

    def _create_outputs(self, make_publisher: Callable | None = None) -> None:
        """Per camera a publisher per registered output (created after the model, so a plug-in imported by the
        model factory can still add outputs) and the depth outputs; ~/labels (published now) and /diagnostics.
        make_publisher: create_publisher (plain node) or create_lifecycle_publisher."""
        events = PublisherEventCallbacks(incompatible_qos=self._on_output_incompatible_qos)
        for cam in self.cameras:
            publishing.create_publishers(make_publisher or self.create_publisher, cam, self._values["use_depth"],
                                         events)
        self._pub_labels = self.create_publisher(conversions.RCLPY.type(labels.LABEL_ARRAY), f"~/{labels.TOPIC}",
                                                 labels.labels_qos())
        self._pub_diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._publish_labels()

    def _start_inputs(self) -> None:
        """The worker threads, per camera the image (and depth) subscriptions, the timers."""
        node_cfg = self._slot.current.cfg.node
        self._closing = False
        self._flow = FrameFlow(self.cameras, self._slot, self._log, max_batch=node_cfg.max_batch,
                               closing=lambda: self._closing, batch_sizes=self._batch_sizes)
        for cam in self.cameras:
            cam.watchdog = qos.FrameWatchdog(NO_FRAME_WARN_AFTER)
            self._subscribe(cam, qos.choose_reliability(node_cfg.qos_reliability, self._publisher_reliabilities(cam)))
            if node_cfg.use_depth:
                self._subscribe_depth(cam, node_cfg.depth_tolerance)
        # steady clock: with use_sim_time and no (or a paused) /clock, ROS-clock timers would never fire
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._timers = [self.create_timer(GRAPH_CHECK_PERIOD, self._check_graph, clock=steady),
                        self.create_timer(node_cfg.diagnostics_period, self._publish_diagnostics, clock=steady)]

    def _stop_inputs(self, timeout: float = SHUTDOWN_FRAME_WAIT) -> bool:
        """Destroy the subscriptions and timers, drop the waiting frames and let the running batch finish
        (False when it did not end within timeout)."""
        self._unsubscribe()
        for timer in self._timers:
            timer.cancel()
            self.destroy_timer(timer)
        self._timers = []
        flow, self._flow = self._flow, None
        return flow.stop(timeout) if flow is not None else True

    def _destroy_outputs(self) -> None:
        destroy = getattr(self, "destroy_lifecycle_publisher", self.destroy_publisher)
        for cam in self.cameras:
            publishing.destroy_publishers(destroy, cam)
        for pub in (self._pub_labels, self._pub_diagnostics):
            if pub is not None:
                self.destroy_publisher(pub)
        self._pub_labels = self._pub_diagnostics = None

    def _wait_for_load(self, timeout: float) -> None:
        """At shutdown: give a background model load `timeout` s to end (a thread still importing or loading
        when the interpreter exits can crash it), then close what it loaded."""
        job = self._loading
        if job is None or not job.wait(timeout):
            return
        if job.model is not None:
            self._slot.close_model(job.model)
            job.model = None

    def _drop_model(self) -> None:
        """Release the model (and its GPU memory); the node keeps its parameters."""
        self._slot.drop()

    # ------------------------------------------------------------------------------- outputs
    def _publish_labels(self) -> None:
        """~/labels: the class map of the current model (latched)."""
        current = self._slot.current
        if self._pub_labels is None or current is None:
            return
        header = Header(stamp=self.get_clock().now().to_msg())
        self._pub_labels.publish(labels.labels_msg(current.finisher.categories,     # with the palette's colours
                                                   self._values["model"] or "(default)", header))

    def _on_output_incompatible_qos(self, event) -> None:
        self._log.warn(
            f"a subscriber of one of this node's outputs requests QoS the outputs do not offer (policy "
            f"{event.last_policy_kind}); outputs are {qos.describe_qos(publishing.OUTPUT_QOS)}: subscribe reliable "
            "or best effort, volatile", throttle_duration_sec=WARN_THROTTLE)

    def _abandon_message(self, timeout: float) -> str:
        return (f"shutting down: a frame still in inference after {timeout:.1f} s was abandoned "
                "(no outputs for it)")
