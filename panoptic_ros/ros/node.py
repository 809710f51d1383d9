"""panoptic_node: camera images in, panoptic segmentation out.

Subscribes  image (sensor_msgs/Image) or, with image_transport=compressed, <image>/compressed
            (sensor_msgs/CompressedImage), reliability per qos_reliability (auto follows the publishers).
Publishes   every output of outputs.OUTPUTS under ~/ (panoptic, semantic, instances, overlay: see outputs.py),
            each with the input's header (stamp and frame_id); on-demand ones (overlay) only when subscribed
            or publish_<name> is true; and /diagnostics (diagnostic_msgs/DiagnosticArray).

The node only wires things together: parameters (params.py), QoS (qos.py), newest-frame worker thread
(latest_frame_worker.py), the outputs (outputs.py), statistics (diagnostics.py). Inference runs on
the worker thread, so the executor keeps taking frames (and parameter changes) while the model is busy.

The model slot holds an inference pipeline (panoptic_ros.pipeline.build_pipeline: the model file with the
runtime and precision parameters); runtime and precision are logged at start-up and in /diagnostics.
A change of model / device / runtime / precision is checked in the parameter callback (fast) and loaded on a
background thread (model_loading.py): the call answers at once, frames keep flowing through the current
model, the switch happens when the new one is ready (a frame in flight finishes with the model it started
with), then the old model is released and the CUDA cache emptied. A load that fails after the call was
accepted is logged as an error, counted ("model load failures" in /diagnostics) and its parameters are set
back to the values of the model still running.

Frames declaring more than max_input_pixels (raw: height x width fields; compressed: the PNG / JPEG header,
read before decoding) are rejected and counted ("frames too large"). Timers (graph check, watchdog,
diagnostics) run on the steady clock, so they fire with use_sim_time and no or paused /clock; output stamps
are always the input's.
"""
from __future__ import annotations

import re
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

try:  # Jazzy and later
    from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import PublisherEventCallbacks, SubscriptionEventCallbacks

from panoptic_ros.config import ConfigError, PanopticConfig
from panoptic_ros.data.image_limits import ImageTooLarge

from . import conversions, diagnostics, outputs, params, qos, transport
from .latest_frame_worker import LatestFrameWorker
from .model_loading import BackgroundLoad, ModelLoadError, PipelineLoader, release_cuda_cache

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


@dataclass(frozen=True)
class Settings:
    """What one frame is processed with; replaced as a whole when parameters change (thread-safe swap)."""
    model: Any
    cfg: PanopticConfig          # inference + node sections hold the current parameter values


class PanopticNode(Node):
    """See the module docstring. Raises ModelLoadError / params.ParameterError from the constructor.

    model_loader: an object with check(values) and load(values) (model_loading.PipelineLoader by default);
    the tests pass a test model this way."""

    def __init__(self, *, model_loader=None, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        self._warn = _warning_method(self.get_logger())
        self._throttle = ReasonThrottle(WARN_THROTTLE)
        self._loader = model_loader if model_loader is not None else PipelineLoader()
        self._values = params.declare_parameters(self)
        try:
            model = self._loader.load(self._values)
        except ModelLoadError:
            raise
        except Exception as exc:  # noqa: BLE001 - an injected loader's own error: same one-line start-up error
            raise ModelLoadError(str(exc)) from None
        self._settings = Settings(model, self._config_for(model, self._values))
        self._settings_lock = threading.Lock()
        self._loading: BackgroundLoad | None = None
        self._closing = False
        self._frame_lock = threading.Lock()    # the model of the frame in flight vs. a replaced model to close
        self._in_flight_model: Any = None
        self._retired: Any = None
        self.stats = diagnostics.FrameStats()
        self._watchdog = qos.FrameWatchdog(NO_FRAME_WARN_AFTER)

        pub_events = PublisherEventCallbacks(incompatible_qos=self._on_output_incompatible_qos)
        # one publisher per registered output (outputs.py), created after the model so a plug-in imported by
        # the model factory can still add outputs
        self._outputs = [(out, self.create_publisher(conversions.RCLPY.type(out.msgtype), f"~/{out.name}",
                                                     OUTPUT_QOS, event_callbacks=pub_events))
                         for out in outputs.all_outputs()]
        self._pub_diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

        node_cfg = self._settings.cfg.node
        self._transport = node_cfg.image_transport
        self._msg_type = CompressedImage if self._transport == "compressed" else Image
        self._topic = self._input_topic()
        self._subscription = None
        self._reliability = None
        self._worker = LatestFrameWorker(self._process, on_error=self._on_worker_error).start()
        self._subscribe(qos.choose_reliability(node_cfg.qos_reliability, self._publisher_reliabilities()))

        self._load_done = self.create_guard_condition(self._finish_load)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        # steady clock: with use_sim_time and no (or a paused) /clock, ROS-clock timers would never fire
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._graph_timer = self.create_timer(GRAPH_CHECK_PERIOD, self._check_graph, clock=steady)
        self._diag_timer = self.create_timer(node_cfg.diagnostics_period, self._publish_diagnostics, clock=steady)
        self.get_logger().info(
            f"ready: model {describe_model(model, self._values)}, input_size "
            f"{_effective_input_size(model, self._values['input_size'])}, listening on {self._topic} "
            f"({self._transport}, {qos.reliability_name(self._reliability)}), outputs under "
            f"{self.get_fully_qualified_name()}/")

    # ---------------------------------------------------------------------------------- settings
    @staticmethod
    def _config_for(model, values: dict) -> PanopticConfig:
        """The model's own config (its trained inference settings: NMS, max size ...) with the parameters set."""
        base = getattr(model, "cfg", None)
        return params.apply_values(base if isinstance(base, PanopticConfig) else PanopticConfig(), values)

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        """Validate against the schema and answer at once. Per-frame settings are swapped atomically; a change
        of model/device/runtime/precision is checked (fast) and then loaded in the background (_finish_load
        switches). One reload at a time: a second one while loading is refused with that reason."""
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
            values = {**self._values, **{k: v for k, v in changes.items() if k not in reload}}
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
        if job.error is not None:
            with self._settings_lock:
                self._loading = None
                old = {k: self._values[k] for k in job.changes}
            self.stats.count("load_failures")
            self.get_logger().error(
                f"loading the model for {', '.join(f'{k}={v!r}' for k, v in job.changes.items())} failed after "
                f"{job.seconds:.1f} s, keeping {describe_model(self._settings.model, self._values)}: "
                f"{type(job.error).__name__}: {job.error}; parameters set back to "
                + ", ".join(f"{k}={v!r}" for k, v in old.items()))
            self.set_parameters([Parameter(k, value=v) for k, v in old.items()])
            return
        with self._settings_lock:
            self._loading = None
            values = {**self._values, **job.changes}
            self._values = values
            old = self._settings.model
            self._settings = Settings(job.model, self._config_for(job.model, values))
        self.get_logger().info(f"loaded model {describe_model(job.model, values)} in {job.seconds:.1f} s")
        job.model = None
        self._retire(old)

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
    def _input_topic(self) -> str:
        """Fully qualified, remapped name of `image` (+ /compressed, as image_transport names it)."""
        try:
            base = self.resolve_topic_name("image")
        except AttributeError:  # rclpy without Node.resolve_topic_name: ask a throwaway subscription
            probe = self.create_subscription(Image, "image", lambda _m: None, 1)
            base = probe.topic_name
            self.destroy_subscription(probe)
        return base.rstrip("/") + "/compressed" if self._transport == "compressed" else base

    def _publisher_infos(self) -> list:
        try:
            return list(self.get_publishers_info_by_topic(self._topic))
        except Exception:  # noqa: BLE001 - graph queries fail during shutdown
            return []

    def _publisher_reliabilities(self) -> list:
        return [i.qos_profile.reliability for i in self._publisher_infos()]

    def _subscribe(self, reliability: ReliabilityPolicy) -> None:
        if self._subscription is not None:
            self.destroy_subscription(self._subscription)
        depth = self._settings.cfg.node.qos_depth
        self._qos = qos.subscription_qos(reliability, depth)
        events = SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible_qos)
        self._subscription = self.create_subscription(self._msg_type, self._topic, self._on_image, self._qos,
                                                      event_callbacks=events)
        self._reliability = reliability

    def _check_graph(self) -> None:
        """Every second: follow the publishers' reliability (auto) and warn about publishers without frames."""
        infos = self._publisher_infos()
        setting = self._settings.cfg.node.qos_reliability
        if setting == "auto":
            wanted = qos.choose_reliability("auto", [i.qos_profile.reliability for i in infos])
            if wanted != self._reliability:
                self.get_logger().info(
                    f"qos_reliability=auto: publishers on {self._topic} are {qos.describe_publishers(infos)}; "
                    f"subscribing {qos.reliability_name(wanted)} (was {qos.reliability_name(self._reliability)})")
                self._subscribe(wanted)
        if self._watchdog.check(time.monotonic(), len(infos)):
            self._warn(qos.no_frames_message(self._topic, NO_FRAME_WARN_AFTER, self._qos, infos, setting))

    def _on_incompatible_qos(self, event) -> None:
        setting = self._settings.cfg.node.qos_reliability
        infos = self._publisher_infos()
        message = qos.incompatible_qos_message(self._topic, self._qos, infos, event.last_policy_kind, setting)
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

    def _on_image(self, msg) -> None:
        """Executor thread: count and hand over; never blocks on the model."""
        now = time.monotonic()
        self._watchdog.frame(now)
        self.stats.count("received")
        if self._worker.submit((msg, now)):
            self.stats.count("dropped")

    # ---------------------------------------------------------------------------------- worker
    def _process(self, item) -> None:
        """Worker thread: check the size, decode, infer, publish every output with the input's header."""
        msg, received = item
        with self._frame_lock:
            settings = self._settings
            self._in_flight_model = settings.model
        try:
            self._process_with(msg, received, settings)
        finally:
            del settings   # so a replaced model is unreferenced once closed
            with self._frame_lock:
                self._in_flight_model = None
                retired, self._retired = self._retired, None
            if retired is not None and not self._closing:
                self._close_model(retired)   # this frame was the last user of a replaced model

    def _process_with(self, msg, received: float, settings: Settings) -> None:
        limit = settings.cfg.inference.max_input_pixels
        try:
            rgb = (conversions.compressed_msg_to_rgb(msg, limit) if isinstance(msg, CompressedImage)
                   else conversions.image_msg_to_rgb(msg, limit))
        except ImageTooLarge as exc:
            self.stats.count("rejected")
            self.stats.count("too_large")
            self._warn_throttled(f"rejected a frame from {self._topic}: {exc}")
            return
        except conversions.ImageConversionError as exc:
            self.stats.count("rejected")
            self._warn_throttled(f"rejected a frame from {self._topic}: {exc}")
            return
        start = time.monotonic()
        result = settings.model.predict([rgb], inference=settings.cfg.inference)[0]
        model_time = time.monotonic() - start
        if self._closing:
            return   # abandoned at shutdown: the publishers are going away
        self._publish_outputs(msg.header, rgb, result, settings)
        done = time.monotonic()
        self.stats.frame_done(done, done - received, model_time)

    def _warn_throttled(self, text: str) -> None:
        if self._throttle.allow(text, time.monotonic()):
            self._warn(text)

    def _publish_outputs(self, header, rgb, result, settings: Settings) -> None:
        node_cfg = settings.cfg.node
        frame = outputs.OutputFrame(result, header, settings.model.categories, rgb, node_cfg.overlay_alpha)
        for out, publisher in self._outputs:
            if out.on_demand and not (outputs.forced(out, node_cfg) or publisher.get_subscription_count() > 0):
                continue
            msg = out.build(frame, conversions.RCLPY)
            if msg is not None:
                publisher.publish(msg)

    def _on_worker_error(self, exc: BaseException, item) -> None:
        if self._closing or not rclpy.ok(context=self.context):
            return  # publishing after shutdown started: not a frame error
        self.stats.count("errors")
        text = f"inference failed on a frame from {self._topic}: {type(exc).__name__}: {exc}"
        if self._throttle.allow(text, time.monotonic()):
            self.get_logger().error(text)

    # ---------------------------------------------------------------------------------- diagnostics
    def _publish_diagnostics(self) -> None:
        snap = self.stats.snapshot(time.monotonic())
        model = self._settings.model
        runtime, precision = runtime_info(model)
        extra = {"runtime": runtime, "precision": precision, "input topic": self._topic,
                 "subscription": qos.describe_qos(self._qos), "merge policy": self._settings.cfg.inference.merge_policy}
        status = diagnostics.diagnostic_status(
            snap, name=f"{self.get_name()}: panoptic segmentation ({self._topic})",
            hardware_id=str(getattr(model, "device", self._values["device"])),
            publisher_count=len(self._publisher_infos()), extra=extra)
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._pub_diagnostics.publish(array)

    # ---------------------------------------------------------------------------------- shutdown
    def shutdown(self, timeout: float = SHUTDOWN_FRAME_WAIT) -> bool:
        """Stop taking frames and give the running one `timeout` seconds to finish; False (and a warning) when
        it was abandoned (its outputs are not published; the worker is a daemon thread and ends with the
        process)."""
        if self._subscription is not None:
            self.destroy_subscription(self._subscription)
            self._subscription = None
        for timer in (self._graph_timer, self._diag_timer):
            timer.cancel()
        if self._worker.stop(timeout):
            self._closing = True
            return True
        self._closing = True
        self._warn(f"shutting down: a frame still in inference after {timeout:.1f} s was abandoned "
                   "(no outputs for it)")
        return False


def main(argv: list[str] | None = None, *, model_loader=None) -> int:
    """Entry point of lib/panoptic_ros/panoptic_node. Exit 0 on SIGINT/SIGTERM (also with a frame abandoned
    in inference), 1 on a start-up error. model_loader: see PanopticNode (tests only)."""
    argv = sys.argv if argv is None else argv
    transport.use_large_message_profile()
    try:
        rclpy.init(args=argv)
    except Exception as exc:  # noqa: BLE001 - e.g. an unreadable --params-file: one line, no traceback
        print(f"[{NODE_NAME}] error: cannot start: {exc}", file=sys.stderr, flush=True)
        return 1
    node = None
    try:
        try:
            node = PanopticNode(model_loader=model_loader)
        except (ModelLoadError, params.ParameterError) as exc:
            print(f"[{NODE_NAME}] error: {exc}", file=sys.stderr, flush=True)
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


if __name__ == "__main__":
    sys.exit(main())
