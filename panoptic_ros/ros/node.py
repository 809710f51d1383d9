"""panoptic_node: camera images in, panoptic segmentation out (one camera or several, batched).

Subscribes  image (sensor_msgs/Image) or, with image_transport=compressed, <image>/compressed
            (sensor_msgs/CompressedImage), reliability per qos_reliability (auto follows the publishers);
            with parameter `images` (a list of TOPIC or NAME=TOPIC) one such input per camera instead.
            With use_depth: per camera <prefix>depth (sensor_msgs/Image 16UC1 mm / 32FC1 m, registered to the
            colour image) and <prefix>camera_info (sensor_msgs/CameraInfo), prefix "" or "<camera>/".
Publishes   per camera every output of outputs.OUTPUTS under ~/ (one camera) or ~/<camera>/ (several):
            panoptic, semantic, instances, overlay (see outputs.py), each with its input's header; on-demand
            ones (overlay) only when subscribed or publish_<name> is true; with use_depth instances_3d (+
            markers and points when subscribed); ~/labels (panoptic_ros/PanopticLabelArray, latched, again
            on every model change); /diagnostics (one status per camera).

The node only wires things together: parameters (params.py), QoS (qos.py), per-camera state
(camera_input.py), one inference thread over per-camera newest-frame slots (cameras.py: the pending frames
of all cameras go through the network as one batch; a silent camera never stalls the others), one output
thread that publishes a batch while the next one is in the network (output_stage.py), the outputs
(outputs.py), tracking (panoptic_ros.tracking: with `tracking` on, segment ids are stable ids, one tracker per
camera, reset on a model change, when tracking is turned on, and when the input stamp jumps backwards), 3D
instances (depth_conversions.py, stamp_matcher.py, panoptic_ros.geometry), statistics (diagnostics.py).
Inference runs on its own thread, so the executor keeps taking frames (and parameter changes) meanwhile.

The model slot holds an inference pipeline (panoptic_ros.pipeline.build_pipeline: the model file with the
runtime and precision parameters); runtime and precision are logged at start-up and in /diagnostics.
A change of model / device / runtime / precision is checked in the parameter callback (fast) and loaded on a
background thread (model_loading.py): the call answers at once, frames keep flowing through the current
model, the switch happens when the new one is ready (a frame in flight finishes with the model it started
with), then the old model is released and the CUDA cache emptied. A load that fails after the call was
accepted (or whose model lacks the head the current merge_policy needs) is logged as an error, counted
("model load failures" in /diagnostics) and its parameters are set back to the values of the model still
running. A merge_policy whose head the loaded model lacks is refused with the reason (PolicyUnavailable).

Frames declaring more than max_input_pixels (raw: height x width fields; compressed: the PNG / JPEG header,
read before decoding) are rejected and counted ("frames too large"). Timers (graph check, watchdog,
diagnostics) run on the steady clock, so they fire with use_sim_time and no or paused /clock; output stamps
are always the input's.

PanopticNodeCore holds all of it; PanopticNode (rclpy Node, everything at construction) and
lifecycle_node.PanopticLifecycleNode (configure / activate / deactivate / cleanup) call its steps.
"""
from __future__ import annotations

import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

try:  # Jazzy and later
    from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import PublisherEventCallbacks, SubscriptionEventCallbacks

from panoptic_ros.config import ConfigError, PanopticConfig
from panoptic_ros.data.image_limits import ImageTooLarge

from . import conversions, diagnostics, outputs, params, qos, transport
from .camera_input import DEPTH_STREAMS, CameraInput
from .cameras import BatchWorker, CameraNameError, FairBatchScheduler, camera_names
from .model_loading import BackgroundLoad, ModelLoadError, PipelineLoader, release_cuda_cache
from .output_stage import OutputStage
from .stamp_matcher import StampMatcher, stamp_to_ns

NODE_NAME = "panoptic_node"
GRAPH_CHECK_PERIOD = 1.0      # s between checks of the input topic's publishers (auto QoS, watchdog)
NO_FRAME_WARN_AFTER = 5.0     # s of silence with publishers present before the watchdog warns
WARN_THROTTLE = 5.0           # s between repeated warnings of one kind
SHUTDOWN_FRAME_WAIT = 3.0     # s shutdown waits for the frame in inference before abandoning it
OUTPUT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE)


def _warning_method(logger):
    """logger.warning (Iron and later) or logger.warn (Humble), bound, so throttling sees the real call site."""
    return getattr(logger, "warning", None) or logger.warn


def load_node_model(values: dict):
    """The inference pipeline for the node's parameters (model "" = the shipped model, device, runtime,
    precision); ModelLoadError with one clear line."""
    return PipelineLoader().load(values)


class ReasonThrottle:
    """Throttles repeated warnings per kind of reason (digits ignored), so a second, different problem is
    still reported while the first one repeats (rclpy's throttling is per call site)."""

    def __init__(self, period: float, max_kinds: int = 64):
        self.period, self.max_kinds = period, max_kinds
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def allow(self, reason: str, now: float) -> bool:
        key = re.sub(r"\d+", "#", reason)[:120]
        with self._lock:
            if now - self._last.get(key, -self.period) < self.period:
                return False
            if len(self._last) >= self.max_kinds:
                self._last.clear()
            self._last[key] = now
            return True


def runtime_info(model) -> tuple[str, str]:
    """(runtime name, precision) of a pipeline; ("n/a", "n/a") for a model object without a runtime."""
    runtime = getattr(model, "runtime", None)
    return str(getattr(runtime, "name", "n/a")), str(getattr(runtime, "precision", "n/a"))


def describe_model(model, values: dict) -> str:
    """'<file> on <device>, runtime R, precision P' for the log."""
    runtime, precision = runtime_info(model)
    device = getattr(model, "device", values["device"])
    return f"{values['model'] or '(default)'} on {device}, runtime {runtime}, precision {precision}"


def _effective_input_size(model, value: int) -> str:
    """input_size as predict() will use it (0 = the checkpoint's own setting, else its training min_size)."""
    if value:
        return str(value)
    cfg = getattr(model, "cfg", None)
    if cfg is None:
        return "0 (the model's own)"
    from panoptic_ros.pipeline import input_limits

    return f"0 (the model's own: {input_limits(cfg)[0]})"


def check_policy(model, name: str) -> None:
    """PolicyUnavailable (a ValueError, one line) when the model lacks the head merge policy `name` needs; models
    without check_policy (test models) accept every registered policy."""
    check = getattr(model, "check_policy", None)
    if check is not None:
        check(name)


def _policy_error() -> type[Exception]:
    from panoptic_ros.panoptic.policies import PolicyUnavailable

    return PolicyUnavailable


@dataclass(frozen=True)
class Settings:
    """What one frame is processed with; replaced as a whole when parameters change (thread-safe swap)."""
    model: Any
    cfg: PanopticConfig          # inference + node sections hold the current parameter values


@dataclass(frozen=True)
class OutputSettings:
    """What the output thread needs of the settings a batch ran with (not the model: a replaced model is closed
    as soon as its last batch leaves the network)."""
    categories: Any
    cfg: PanopticConfig


@dataclass
class _Frame:
    """One decoded frame of a batch."""
    camera: CameraInput
    msg: Any
    received: float
    rgb: Any


@dataclass
class _Batch:
    """One batch on its way from the inference thread to the output thread."""
    frames: list
    results: list
    settings: OutputSettings
    model_time: float


class PanopticNodeCore:
    """The node's behaviour, mixed into an rclpy Node (PanopticNode) or LifecycleNode (PanopticLifecycleNode).

    Steps: _init_core (parameters, cameras, parameter callback) -> _load_first_model -> _create_outputs ->
    _start_inputs; and back: _stop_inputs -> _destroy_outputs -> _drop_model."""

    # ------------------------------------------------------------------------------- construction steps
    def _init_core(self, model_loader=None) -> None:
        self._warn = _warning_method(self.get_logger())
        self._throttle = ReasonThrottle(WARN_THROTTLE)
        self._loader = model_loader if model_loader is not None else PipelineLoader()
        self._values = params.declare_parameters(self)
        self._settings: Settings | None = None
        self._settings_lock = threading.Lock()
        self._loading: BackgroundLoad | None = None
        self._closing = False
        self._frame_lock = threading.Lock()    # the model of the frame in flight vs. a replaced model to close
        self._in_flight_model: Any = None
        self._retired: Any = None
        self._worker: BatchWorker | None = None
        self._output_stage: OutputStage | None = None
        self._batch_sizes: deque[int] = deque(maxlen=200)     # frames per network call (diagnostics)
        self._timers: list = []
        self._pub_labels = None
        self._pub_diagnostics = None
        self._transport = self._values["image_transport"]
        self._msg_type = CompressedImage if self._transport == "compressed" else Image
        self.cameras = self._make_cameras()
        self._by_name = {c.name: c for c in self.cameras}
        self._load_done = self.create_guard_condition(self._finish_load)
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def _make_cameras(self) -> list[CameraInput]:
        """One CameraInput per entry of `images` (outputs under ~/<name>/), or the single `image` input."""
        entries = self._values["images"]
        if not entries:
            return [CameraInput(name="image", topic=self._resolve_input("image"))]
        try:
            named = camera_names(entries)
        except CameraNameError as exc:
            raise params.ParameterError(f"parameter images: {exc}") from None
        return [CameraInput(name=name, topic=self._resolve_input(topic), prefix=f"{name}/") for name, topic in named]

    def _resolve_input(self, topic: str) -> str:
        """Fully qualified, remapped name of an image topic (+ /compressed, as image_transport names it)."""
        base = self._resolve(topic)
        return base.rstrip("/") + "/compressed" if self._transport == "compressed" else base

    def _resolve(self, topic: str) -> str:
        try:
            return self.resolve_topic_name(topic)
        except AttributeError:  # rclpy without Node.resolve_topic_name: ask a throwaway subscription
            probe = self.create_subscription(Image, topic, lambda _m: None, 1)
            name = probe.topic_name
            self.destroy_subscription(probe)
            return name

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
        except _policy_error() as exc:
            self._close_model(model)
            raise params.ParameterError(f"parameter merge_policy: {exc}") from None
        with self._settings_lock:
            self._settings = Settings(model, self._config_for(model, self._values))

    def _create_outputs(self, make_publisher: Callable | None = None) -> None:
        """Per camera a publisher per registered output (created after the model, so a plug-in imported by the
        model factory can still add outputs) and the depth outputs; ~/labels (published now) and /diagnostics.
        make_publisher: create_publisher (plain node) or create_lifecycle_publisher."""
        make = make_publisher or self.create_publisher
        pub_events = PublisherEventCallbacks(incompatible_qos=self._on_output_incompatible_qos)
        from sensor_msgs.msg import PointCloud2
        from visualization_msgs.msg import MarkerArray

        from panoptic_ros.msg import PanopticInstance3DArray

        for cam in self.cameras:
            cam.outputs = [(out, make(conversions.RCLPY.type(out.msgtype), f"~/{cam.prefix}{out.name}", OUTPUT_QOS,
                                      event_callbacks=pub_events)) for out in outputs.all_outputs()]
            if self._values["use_depth"]:
                cam.pub_3d = make(PanopticInstance3DArray, f"~/{cam.prefix}instances_3d", OUTPUT_QOS,
                                  event_callbacks=pub_events)
                cam.pub_markers = make(MarkerArray, f"~/{cam.prefix}markers", OUTPUT_QOS)
                cam.pub_points = make(PointCloud2, f"~/{cam.prefix}points", OUTPUT_QOS)
        from . import labels

        self._pub_labels = self.create_publisher(conversions.RCLPY.type(labels.LABEL_ARRAY), f"~/{labels.TOPIC}",
                                                 labels.labels_qos())
        self._pub_diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._publish_labels()

    def _start_inputs(self) -> None:
        """The batch worker, per camera the image (and depth) subscriptions, the timers."""
        node_cfg = self._settings.cfg.node
        scheduler = FairBatchScheduler([c.name for c in self.cameras], node_cfg.max_batch)
        self._closing = False
        self._output_stage = OutputStage(self._publish_batch, on_error=self._on_output_error).start()
        self._worker = BatchWorker(scheduler, self._process_batch, on_error=self._on_worker_error).start()
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
        for cam in self.cameras:
            for sub in [cam.subscription, *cam.depth_subscriptions]:
                if sub is not None:
                    self.destroy_subscription(sub)
            cam.subscription, cam.depth_subscriptions = None, []
            if cam.matcher is not None:
                cam.matcher.clear()
        for timer in self._timers:
            timer.cancel()
            self.destroy_timer(timer)
        self._timers = []
        finished = True
        if self._worker is not None:
            finished = self._worker.stop(timeout)
            self._worker = None
        if self._output_stage is not None:
            finished = self._output_stage.stop(timeout) and finished
            self._output_stage = None
        return finished

    def _destroy_outputs(self) -> None:
        destroy = getattr(self, "destroy_lifecycle_publisher", self.destroy_publisher)
        for cam in self.cameras:
            for pub in [p for _, p in cam.outputs] + [cam.pub_3d, cam.pub_markers, cam.pub_points]:
                if pub is not None:
                    destroy(pub)
            cam.outputs, cam.pub_3d, cam.pub_markers, cam.pub_points = [], None, None, None
        for pub in (self._pub_labels, self._pub_diagnostics):
            if pub is not None:
                self.destroy_publisher(pub)
        self._pub_labels = self._pub_diagnostics = None

    def _drop_model(self) -> None:
        """Release the model (and its GPU memory); the node keeps its parameters."""
        with self._settings_lock:
            settings, self._settings = self._settings, None
        if settings is not None:
            model = settings.model
            del settings
            self._close_model(model)
            del model
        import gc

        gc.collect()
        release_cuda_cache()

    # ---------------------------------------------------------------------------------- settings
    @staticmethod
    def _config_for(model, values: dict) -> PanopticConfig:
        """The model's own config (its trained inference settings: NMS, max size ...) with the parameters set."""
        base = getattr(model, "cfg", None)
        return params.apply_values(base if isinstance(base, PanopticConfig) else PanopticConfig(), values)

    def _reset_trackers(self, reason: str) -> None:
        for cam in self.cameras:
            cam.request_reset(reason)

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        """Validate against the schema and answer at once. Per-frame settings are swapped atomically; a change
        of model/device/runtime/precision is checked (fast) and then loaded in the background (_finish_load
        switches). One reload at a time: a second one while loading is refused with that reason. A merge_policy
        the loaded model cannot run is refused (PolicyUnavailable)."""
        try:
            changes = params.check_parameters(parameters)
        except ConfigError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        if not changes:
            return SetParametersResult(successful=True)
        with self._settings_lock:
            reload = {k: v for k, v in changes.items() if k in params.RELOAD_PARAMETERS and v != self._values[k]}
            if self._loading is not None and any(k in params.RELOAD_PARAMETERS for k in changes):
                wanted = ", ".join(f"{k}={v!r}" for k, v in self._loading.changes.items())
                return SetParametersResult(successful=False, reason=f"a model is still loading ({wanted}); "
                                                                    "set it again when it is done")
            if reload:
                target = {**self._values, **changes}
                try:
                    self._loader.check(target)
                except Exception as exc:  # noqa: BLE001 - ModelLoadError or a test loader's error
                    self._warn(f"parameter change refused, keeping the current model: {exc}")
                    return SetParametersResult(successful=False, reason=f"kept the current model: {exc}")
            if "merge_policy" in changes and self._settings is not None and not reload:
                try:
                    check_policy(self._settings.model, changes["merge_policy"])
                except _policy_error() as exc:
                    self._warn(f"parameter change refused: {exc}")
                    return SetParametersResult(successful=False, reason=str(exc))
            if changes.get("tracking") and not self._values["tracking"]:
                self._reset_trackers("tracking turned on")
            values = {**self._values, **{k: v for k, v in changes.items() if k not in reload}}
            if self._settings is None:             # lifecycle node not configured: the values wait for configure
                self._values = {**values, **reload}
                reload = {}
            else:
                self._values = values
                self._settings = Settings(self._settings.model, self._config_for(self._settings.model, values))
            if reload:
                self._loading = BackgroundLoad(self._loader.load, {**values, **reload}, reload,
                                               self._load_done.trigger).start()
        self.get_logger().info("parameters set: " + ", ".join(f"{k}={v!r}" for k, v in changes.items())
                               + (" (loading the model in the background)" if reload else ""))
        return SetParametersResult(successful=True)

    def _finish_load(self) -> None:
        """Executor thread, when a background load ended: switch to the new model (and release the old one),
        or keep the old one, count and log the failure and set the reload parameters back."""
        job = self._loading
        if job is None or not job.done or self._closing:
            return
        error = job.error
        if error is None:
            try:
                check_policy(job.model, self._values["merge_policy"])
            except _policy_error() as exc:
                error = exc
                self._close_model(job.model)
                job.model = None
        if self._settings is None:         # lifecycle cleanup while loading: keep the values for configure
            with self._settings_lock:
                self._loading = None
                self._values = {**self._values, **job.changes}
            if job.model is not None:
                self._close_model(job.model)
                job.model = None
            return
        if error is not None:
            with self._settings_lock:
                self._loading = None
                old = {k: self._values[k] for k in job.changes}
            self._count_all("load_failures")
            self.get_logger().error(
                f"loading the model for {', '.join(f'{k}={v!r}' for k, v in job.changes.items())} failed after "
                f"{job.seconds:.1f} s, keeping {describe_model(self._settings.model, self._values)}: "
                f"{type(error).__name__}: {error}; parameters set back to "
                + ", ".join(f"{k}={v!r}" for k, v in old.items()))
            self.set_parameters([Parameter(k, value=v) for k, v in old.items()])
            return
        with self._settings_lock:
            self._loading = None
            values = {**self._values, **job.changes}
            self._values = values
            old = self._settings.model
            self._settings = Settings(job.model, self._config_for(job.model, values))
        self._reset_trackers("model changed")
        self.get_logger().info(f"loaded model {describe_model(job.model, values)} in {job.seconds:.1f} s")
        job.model = None
        self._publish_labels()
        self._retire(old)

    def _count_all(self, counter: str) -> None:
        for cam in self.cameras:
            cam.stats.count(counter)

    def _publish_labels(self) -> None:
        """~/labels: the class map of the current model (latched)."""
        settings = self._settings
        if self._pub_labels is None or settings is None:
            return
        from . import labels

        header = Header(stamp=self.get_clock().now().to_msg())
        self._pub_labels.publish(labels.labels_msg(settings.model.categories, self._values["model"] or "(default)",
                                                   header))

    def _retire(self, model) -> None:
        """Close a replaced model and empty the CUDA cache: now, or when the frame still using it ends."""
        with self._frame_lock:
            if self._in_flight_model is model:
                self._retired = model
                return
        self._close_model(model)

    def _close_model(self, model) -> None:
        try:
            close = getattr(model, "close", None)
            if close is not None:
                close()
        except Exception as exc:  # noqa: BLE001 - freeing must not take the node down
            self._warn(f"closing the replaced model failed: {type(exc).__name__}: {exc}")
        del model
        release_cuda_cache()

    # ---------------------------------------------------------------------------------- input
    def _publisher_infos(self, cam: CameraInput) -> list:
        try:
            return list(self.get_publishers_info_by_topic(cam.topic))
        except Exception:  # noqa: BLE001 - graph queries fail during shutdown
            return []

    def _publisher_reliabilities(self, cam: CameraInput) -> list:
        return [i.qos_profile.reliability for i in self._publisher_infos(cam)]

    def _subscribe(self, cam: CameraInput, reliability: ReliabilityPolicy) -> None:
        if cam.subscription is not None:
            self.destroy_subscription(cam.subscription)
        depth = self._settings.cfg.node.qos_depth
        cam.qos = qos.subscription_qos(reliability, depth)
        events = SubscriptionEventCallbacks(incompatible_qos=lambda event, cam=cam: self._on_incompatible_qos(cam,
                                                                                                             event))
        cam.subscription = self.create_subscription(self._msg_type, cam.topic,
                                                    lambda msg, cam=cam: self._on_image(cam, msg), cam.qos,
                                                    event_callbacks=events)
        cam.reliability = reliability

    def _subscribe_depth(self, cam: CameraInput, tolerance: float) -> None:
        """<prefix>depth and <prefix>camera_info, best effort (matches reliable and best-effort publishers)."""
        cam.matcher = StampMatcher(DEPTH_STREAMS, tolerance, any_stamp=("camera_info",))
        cam.depth_subscriptions = []
        for stream, msg_type in zip(DEPTH_STREAMS, (Image, CameraInfo)):
            topic = self._resolve(f"{cam.prefix}{stream}")
            cam.depth_topics[stream] = topic
            cam.depth_subscriptions.append(self.create_subscription(
                msg_type, topic, lambda msg, cam=cam, stream=stream: self._on_depth(cam, stream, msg),
                qos_profile_sensor_data))

    def _check_graph(self) -> None:
        """Every second, per camera: follow the publishers' reliability (auto), warn about publishers without
        frames."""
        setting = self._settings.cfg.node.qos_reliability if self._settings is not None else "auto"
        for cam in self.cameras:
            if cam.subscription is None:
                continue
            infos = self._publisher_infos(cam)
            if setting == "auto":
                wanted = qos.choose_reliability("auto", [i.qos_profile.reliability for i in infos])
                if wanted != cam.reliability:
                    self.get_logger().info(
                        f"qos_reliability=auto: publishers on {cam.topic} are {qos.describe_publishers(infos)}; "
                        f"subscribing {qos.reliability_name(wanted)} (was {qos.reliability_name(cam.reliability)})")
                    self._subscribe(cam, wanted)
            if cam.watchdog is not None and cam.watchdog.check(time.monotonic(), len(infos)):
                self._warn(qos.no_frames_message(cam.topic, NO_FRAME_WARN_AFTER, cam.qos, infos, setting))

    def _on_incompatible_qos(self, cam: CameraInput, event) -> None:
        setting = self._settings.cfg.node.qos_reliability if self._settings is not None else "auto"
        infos = self._publisher_infos(cam)
        message = qos.incompatible_qos_message(cam.topic, cam.qos, infos, event.last_policy_kind, setting)
        if setting == "auto":
            self.get_logger().info(message + " (auto: re-subscribing to match)")
            self._check_graph()
        else:
            self._warn(message)

    def _on_output_incompatible_qos(self, event) -> None:
        self._warn(
            f"a subscriber of one of this node's outputs requests QoS the outputs do not offer (policy "
            f"{event.last_policy_kind}); outputs are {qos.describe_qos(OUTPUT_QOS)}: subscribe reliable or "
            "best effort, volatile", throttle_duration_sec=WARN_THROTTLE)

    def _on_image(self, cam: CameraInput, msg) -> None:
        """Executor thread: count and hand over to the camera's newest-frame slot; never blocks on the model."""
        now = time.monotonic()
        if cam.watchdog is not None:
            cam.watchdog.frame(now)
        cam.stats.count("received")
        worker = self._worker
        if worker is not None and worker.scheduler.put(cam.name, (msg, now)):
            cam.stats.count("dropped")

    def _on_depth(self, cam: CameraInput, stream: str, msg) -> None:
        if cam.matcher is not None:
            cam.matcher.add(stream, stamp_to_ns(msg.header.stamp), msg)

    # ---------------------------------------------------------------------------------- worker
    def _process_batch(self, batch: list) -> None:
        """Inference thread: one batch [(camera name, (msg, received))] decoded and through the network; the
        results go to the output thread (output_stage.py), which publishes each camera's outputs with its header."""
        with self._frame_lock:
            settings = self._settings
            self._in_flight_model = settings.model if settings is not None else None
        try:
            if settings is not None:
                self._process_with(batch, settings)
        finally:
            del settings   # so a replaced model is unreferenced once closed
            with self._frame_lock:
                self._in_flight_model = None
                retired, self._retired = self._retired, None
            if retired is not None and not self._closing:
                self._close_model(retired)   # this frame was the last user of a replaced model

    def _decode(self, cam: CameraInput, msg, limit: int):
        try:
            return (conversions.compressed_msg_to_rgb(msg, limit) if isinstance(msg, CompressedImage)
                    else conversions.image_msg_to_rgb(msg, limit))
        except ImageTooLarge as exc:
            cam.stats.count("rejected")
            cam.stats.count("too_large")
            self._warn_throttled(f"rejected a frame from {cam.topic}: {exc}")
        except conversions.ImageConversionError as exc:
            cam.stats.count("rejected")
            self._warn_throttled(f"rejected a frame from {cam.topic}: {exc}")
        return None

    def _process_with(self, batch: list, settings: Settings) -> None:
        limit = settings.cfg.inference.max_input_pixels
        frames = []
        for name, (msg, received) in batch:
            cam = self._by_name[name]
            rgb = self._decode(cam, msg, limit)
            if rgb is not None:
                frames.append(_Frame(cam, msg, received, rgb))
        if not frames:
            return
        start = time.monotonic()
        results = settings.model.predict([f.rgb for f in frames], inference=settings.cfg.inference)
        model_time = time.monotonic() - start
        self._batch_sizes.append(len(frames))
        if not self._closing:   # else abandoned at shutdown: the publishers are going away
            self._output_stage.put(_Batch(frames, results, OutputSettings(settings.model.categories, settings.cfg),
                                          model_time))

    def _publish_batch(self, batch: _Batch) -> None:
        """Output thread: track, build and publish every camera's outputs of one batch (in order)."""
        for frame, result in zip(batch.frames, batch.results):
            if self._closing:
                return
            try:
                self._publish_camera(frame, result, batch.settings)
            except Exception as exc:  # noqa: BLE001 - one camera's failure must not lose the others' outputs
                self._frame_error(frame.camera, exc)
                continue
            done = time.monotonic()
            frame.camera.stats.frame_done(done, done - frame.received, batch.model_time)

    def _track(self, cam: CameraInput, result, header, settings: OutputSettings):
        """The result with the camera tracker's stable ids (tracking on), resets logged at info level."""
        inference = settings.cfg.inference
        reason = cam.take_reset()
        if not inference.tracking:
            return result
        if reason is not None and cam.tracker is not None:
            if cam.tracker.num_tracks:
                self.get_logger().info(f"{cam.label()}: tracker reset: {reason}")
            cam.tracker.reset(reason)
        tracker = cam.tracker_for(inference, settings.categories)
        result = tracker.update(result, stamp_to_ns(header.stamp) * 1e-9)
        if tracker.last_reset:
            self.get_logger().info(f"{cam.label()}: tracker reset: {tracker.last_reset}")
        return result

    def _publish_camera(self, frame: _Frame, result, settings: OutputSettings) -> None:
        cam, header = frame.camera, frame.msg.header
        result = self._track(cam, result, header, settings)
        node_cfg = settings.cfg.node
        out_frame = outputs.OutputFrame(result, header, settings.categories, frame.rgb, node_cfg.overlay_alpha)
        for out, publisher in cam.outputs:
            if out.on_demand and not (outputs.forced(out, node_cfg) or publisher.get_subscription_count() > 0):
                continue
            msg = out.build(out_frame, conversions.RCLPY)
            if msg is not None:
                publisher.publish(msg)
        if cam.matcher is not None and cam.pub_3d is not None:
            self._publish_3d(cam, out_frame, settings)

    def _publish_3d(self, cam: CameraInput, frame: outputs.OutputFrame, settings: OutputSettings) -> None:
        """~/<prefix>instances_3d (+ markers / points when subscribed) from the depth matched to the frame;
        a warning (throttled) and 2D only when there is none or it does not fit."""
        from panoptic_ros.geometry import segment_points, segments_3d

        from . import depth_conversions as dc

        stamp_ns = stamp_to_ns(frame.header.stamp)
        match = cam.matcher.match(stamp_ns)
        if not match.complete:
            cam.stats.count("no_depth")
            if "camera_info" in match.missing:
                self._warn_throttled(f"{cam.label()}: no camera_info received on {cam.depth_topics['camera_info']}: "
                                     "publishing 2D only")
            else:
                self._warn_throttled(
                    f"{cam.label()}: no depth image on {cam.depth_topics['depth']} within depth_tolerance="
                    f"{settings.cfg.node.depth_tolerance} s of the frame's stamp: publishing 2D only for it")
            return
        height, width = frame.panoptic.shape
        try:
            depth, k = dc.prepare_depth(match.messages["depth"], match.messages["camera_info"], (width, height))
        except dc.DepthConversionError as exc:
            cam.stats.count("no_depth")
            self._warn_throttled(f"{cam.label()}: depth not used: {exc}; publishing 2D only")
            return
        max_depth = settings.cfg.node.max_depth
        ids = [int(s["id"]) for s in frame.segments if s["isthing"]]
        result = segments_3d(depth, k, frame.panoptic, ids=ids, max_depth=max_depth)
        info_frame = str(match.messages["camera_info"].header.frame_id)
        header = Header(stamp=frame.header.stamp, frame_id=info_frame or frame.header.frame_id)
        categories = settings.categories
        cam.pub_3d.publish(dc.instances_3d_msg(result, frame.segments, categories, header))
        if cam.pub_markers.get_subscription_count() > 0:
            cam.pub_markers.publish(dc.markers_msg(result, frame.segments, categories, header))
        if cam.pub_points.get_subscription_count() > 0:
            points, point_ids = segment_points(depth, k, frame.panoptic, ids=ids, stride=4, max_depth=max_depth)
            cam.pub_points.publish(dc.point_cloud_msg(points, point_ids, header))

    def _warn_throttled(self, text: str) -> None:
        if self._throttle.allow(text, time.monotonic()):
            self._warn(text)

    def _frame_error(self, cam: CameraInput, exc: BaseException) -> None:
        if self._closing or not rclpy.ok(context=self.context):
            return  # publishing after shutdown started: not a frame error
        cam.stats.count("errors")
        text = f"inference failed on a frame from {cam.topic}: {type(exc).__name__}: {exc}"
        if self._throttle.allow(text, time.monotonic()):
            self.get_logger().error(text)

    def _on_output_error(self, exc: BaseException, batch: _Batch) -> None:
        for frame in batch.frames:
            self._frame_error(frame.camera, exc)

    def _on_worker_error(self, exc: BaseException, batch) -> None:
        for name, _ in batch:
            self._frame_error(self._by_name[name], exc)

    # ---------------------------------------------------------------------------------- diagnostics
    def _publish_diagnostics(self) -> None:
        settings = self._settings
        if settings is None or self._pub_diagnostics is None:
            return
        now = time.monotonic()
        model = settings.model
        runtime, precision = runtime_info(model)
        statuses = []
        sizes = list(self._batch_sizes)
        batch = f"{sum(sizes) / len(sizes):.2f}" if sizes else "n/a"
        for cam in self.cameras:
            snap = cam.stats.snapshot(now)
            extra = {"runtime": runtime, "precision": precision, "input topic": cam.topic,
                     "subscription": qos.describe_qos(cam.qos) if cam.qos is not None else "none",
                     "merge policy": settings.cfg.inference.merge_policy,
                     "tracking": settings.cfg.inference.tracking,
                     "tracks": cam.tracker.num_tracks if cam.tracker is not None else 0,
                     "batch size (mean)": batch}
            if cam.matcher is not None:
                extra.update({"frames without depth": snap.get("no_depth", 0),
                              "depth matched": cam.matcher.matched["depth"]})
            if len(self.cameras) > 1:
                extra["camera"] = cam.name
            label = f"{cam.name} ({cam.topic})" if len(self.cameras) > 1 else f"({cam.topic})"
            statuses.append(diagnostics.diagnostic_status(
                snap, name=f"{self.get_name()}: panoptic segmentation {label}",
                hardware_id=str(getattr(model, "device", self._values["device"])),
                publisher_count=len(self._publisher_infos(cam)), extra=extra))
        array = DiagnosticArray(status=statuses)
        array.header.stamp = self.get_clock().now().to_msg()
        self._pub_diagnostics.publish(array)

    def _ready_text(self) -> str:
        model = self._settings.model
        inputs = ", ".join(f"{c.name}: {c.topic}" if len(self.cameras) > 1 else c.topic for c in self.cameras)
        reliability = ", ".join(sorted({qos.reliability_name(c.reliability) for c in self.cameras if c.reliability}))
        return (f"model {describe_model(model, self._values)}, input_size "
                f"{_effective_input_size(model, self._values['input_size'])}, listening on {inputs} "
                f"({self._transport}, {reliability or 'not subscribed'}), outputs under "
                f"{self.get_fully_qualified_name()}/" + ("<camera>/" if len(self.cameras) > 1 else ""))


class PanopticNode(PanopticNodeCore, Node):
    """See the module docstring. Raises ModelLoadError / params.ParameterError from the constructor.

    model_loader: an object with check(values) and load(values) (model_loading.PipelineLoader by default);
    the tests pass a test model this way."""

    def __init__(self, *, model_loader=None, **kwargs):
        Node.__init__(self, NODE_NAME, **kwargs)
        self._init_core(model_loader)
        self._load_first_model()
        self._create_outputs()
        self._start_inputs()
        self.get_logger().info("ready: " + self._ready_text())

    def shutdown(self, timeout: float = SHUTDOWN_FRAME_WAIT) -> bool:
        """Stop taking frames and give the running batch `timeout` seconds to finish; False (and a warning) when
        it was abandoned (its outputs are not published; the worker is a daemon thread and ends with the
        process)."""
        finished = self._stop_inputs(timeout)
        self._closing = True
        if not finished:
            self._warn(f"shutting down: a frame still in inference after {timeout:.1f} s was abandoned "
                       "(no outputs for it)")
        return finished


def run(make_node: Callable[[], Any], argv: list[str] | None, name: str = NODE_NAME) -> int:
    """Init rclpy, build the node, spin until SIGINT / SIGTERM, shut down. 0 on a signal, 1 on a start-up error."""
    argv = sys.argv if argv is None else argv
    transport.use_large_message_profile()
    try:
        rclpy.init(args=argv)
    except Exception as exc:  # noqa: BLE001 - e.g. an unreadable --params-file: one line, no traceback
        print(f"[{name}] error: cannot start: {exc}", file=sys.stderr, flush=True)
        return 1
    node = None
    try:
        try:
            node = make_node()
        except (ModelLoadError, params.ParameterError) as exc:
            print(f"[{name}] error: {exc}", file=sys.stderr, flush=True)
            return 1
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.shutdown()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


def main(argv: list[str] | None = None, *, model_loader=None) -> int:
    """Entry point of lib/panoptic_ros/panoptic_node. Exit 0 on SIGINT/SIGTERM (also with a frame abandoned
    in inference), 1 on a start-up error. model_loader: see PanopticNode (tests only)."""
    return run(lambda: PanopticNode(model_loader=model_loader), argv)


if __name__ == "__main__":
    sys.exit(main())
