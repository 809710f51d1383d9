"""The node's input side (a mixin of PanopticNodeCore): the cameras and their topics, subscriptions with QoS
matched to the publishers (qos_reliability auto), depth subscriptions, and the graph check / watchdog timer.

Why: the QoS of a camera topic is decided by who publishes it, and that can change while the node runs.
"""
from __future__ import annotations

import time

from rclpy.qos import ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

try:  # Jazzy and later
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks

from .. import params, qos
from ..stamp_matcher import StampMatcher, stamp_to_ns
from .camera import DEPTH_STREAMS, CameraInput
from .camera_names import CameraNameError, camera_names

NO_FRAME_WARN_AFTER = 5.0     # s of silence with publishers present before the watchdog warns
DEPTH_TYPES = {"depth": Image, "camera_info": CameraInfo}
DEPTH_QUEUE = 5               # depth / camera_info messages kept per subscription until the executor takes them


class InputHandling:
    """Needs of the node: _values, _transport, _msg_type, _slot, _flow, _log, cameras."""

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

    def _qos_setting(self) -> str:
        current = self._slot.current
        return current.cfg.node.qos_reliability if current is not None else "auto"

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
        cam.qos = qos.subscription_qos(reliability, self._slot.current.cfg.node.qos_depth)
        events = SubscriptionEventCallbacks(
            incompatible_qos=lambda event, cam=cam: self._on_incompatible_qos(cam, event))
        cam.subscription = self.create_subscription(self._msg_type, cam.topic,
                                                    lambda msg, cam=cam: self._on_image(cam, msg), cam.qos,
                                                    event_callbacks=events)
        cam.reliability = reliability

    def _on_image(self, cam: CameraInput, msg) -> None:
        flow = self._flow
        if flow is not None:
            flow.put(cam, msg)

    def _subscribe_depth(self, cam: CameraInput, tolerance: float) -> None:
        """<prefix>depth and <prefix>camera_info with the reliability of their publishers, as the image (a
        best-effort reader of a reliable 1280x960 depth stream received 1-3 of 10 images, a reliable one 10)."""
        cam.matcher = StampMatcher(DEPTH_STREAMS, tolerance, any_stamp=("camera_info",))
        for stream in DEPTH_STREAMS:
            cam.depth_topics[stream] = self._resolve(f"{cam.prefix}{stream}")
            found = self._reliabilities(cam.depth_topics[stream])
            cam.depth_publishers[stream] = len(found)
            self._subscribe_depth_stream(cam, stream, qos.choose_reliability(self._qos_setting(), found))

    def _subscribe_depth_stream(self, cam: CameraInput, stream: str, reliability: ReliabilityPolicy) -> None:
        old = cam.depth_subscriptions.pop(stream, None)
        if old is not None:
            self.destroy_subscription(old)
        matcher = cam.matcher
        cam.depth_subscriptions[stream] = self.create_subscription(
            DEPTH_TYPES[stream], cam.depth_topics[stream],
            lambda msg: matcher.add(stream, stamp_to_ns(msg.header.stamp), msg),
            qos.subscription_qos(reliability, DEPTH_QUEUE))
        cam.depth_reliability[stream] = reliability

    def _reliabilities(self, topic: str) -> list:
        try:
            return [i.qos_profile.reliability for i in self.get_publishers_info_by_topic(topic)]
        except Exception:  # noqa: BLE001 - graph queries fail during shutdown
            return []

    def _unsubscribe(self) -> None:
        for cam in self.cameras:
            for sub in [cam.subscription, *cam.depth_subscriptions.values()]:
                if sub is not None:
                    self.destroy_subscription(sub)
            cam.subscription, cam.depth_subscriptions = None, {}
            if cam.matcher is not None:
                cam.matcher.clear()

    def _check_graph(self) -> None:
        """Every second, per camera: follow the publishers' reliability (auto), warn about publishers without
        frames."""
        setting = self._qos_setting()
        for cam in self.cameras:
            if cam.subscription is None:
                continue
            infos = self._publisher_infos(cam)
            for stream, topic in cam.depth_topics.items():
                cam.depth_publishers[stream] = len(self._reliabilities(topic))
            if setting == "auto":
                wanted = qos.choose_reliability("auto", [i.qos_profile.reliability for i in infos])
                if wanted != cam.reliability:
                    self._log.info(
                        f"qos_reliability=auto: publishers on {cam.topic} are {qos.describe_publishers(infos)}; "
                        f"subscribing {qos.reliability_name(wanted)} (was {qos.reliability_name(cam.reliability)})")
                    self._subscribe(cam, wanted)
                for stream, reliability in list(cam.depth_reliability.items()):
                    if stream not in cam.depth_subscriptions:
                        continue
                    wanted = qos.choose_reliability("auto", self._reliabilities(cam.depth_topics[stream]))
                    if wanted != reliability:
                        self._log.info(f"qos_reliability=auto: publishers on {cam.depth_topics[stream]} are "
                                       f"{qos.reliability_name(wanted)}; subscribing {qos.reliability_name(wanted)} "
                                       f"(was {qos.reliability_name(reliability)})")
                        self._subscribe_depth_stream(cam, stream, wanted)
            interval = cam.stats.arrival_interval()
            if cam.watchdog is not None and cam.watchdog.check(time.monotonic(), len(infos), interval):
                self._log.warn(qos.no_frames_message(cam.topic, cam.watchdog.limit(interval), cam.qos, infos,
                                                     setting, cam.stats.counts["received"], interval))

    def _on_incompatible_qos(self, cam: CameraInput, event) -> None:
        setting = self._qos_setting()
        message = qos.incompatible_qos_message(cam.topic, cam.qos, self._publisher_infos(cam),
                                               event.last_policy_kind, setting)
        if setting == "auto":
            self._log.info(message + " (auto: re-subscribing to match)")
            self._check_graph()
        else:
            self._log.warn(message)
