"""Subscription QoS of the image input: reliability matching, mismatch warnings and a "no frames" watchdog.

Why auto reliability: a reliable publisher reaches a best-effort subscriber, but large frames then travel
without retransmission and most are lost (measured: 0-3 of 20 camera frames); a reliable subscriber does not
match a best-effort publisher at all. So, as image_pipeline nodes do, the subscription takes the
reliability of the publishers found on the topic: reliable when all of them are reliable (or none exist
yet), best effort as soon as one of them is best effort. The node re-checks the graph every second and
re-subscribes when the answer changes.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_policy_name_from_kind

from .diagnostics import SILENCE_PERIODS

RELIABILITY_SETTINGS = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}
PARAMETER = "qos_reliability"


def reliability_name(policy) -> str:
    """'reliable' / 'best_effort' / ... for a ReliabilityPolicy (or its int value)."""
    try:
        return ReliabilityPolicy(policy).name.lower()
    except ValueError:
        return str(policy)


def choose_reliability(setting: str, publisher_reliabilities: Sequence) -> ReliabilityPolicy:
    """The subscription reliability for a qos_reliability setting and the publishers' reliabilities."""
    if setting in RELIABILITY_SETTINGS:
        return RELIABILITY_SETTINGS[setting]
    if setting != "auto":
        raise ValueError(f"{PARAMETER}: {setting!r} is not one of auto, reliable, best_effort")
    if any(ReliabilityPolicy(r) == ReliabilityPolicy.BEST_EFFORT for r in publisher_reliabilities):
        return ReliabilityPolicy.BEST_EFFORT
    return ReliabilityPolicy.RELIABLE


def subscription_qos(reliability: ReliabilityPolicy, depth: int) -> QoSProfile:
    """Keep-last(depth), volatile: matches every publisher durability, never replays stale frames."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=int(depth), reliability=reliability,
                      durability=DurabilityPolicy.VOLATILE)


def describe_qos(profile) -> str:
    """One-line summary of the policies that decide matching."""
    parts = [f"reliability={reliability_name(profile.reliability)}"]
    try:
        parts.append(f"durability={DurabilityPolicy(profile.durability).name.lower()}")
    except ValueError:
        parts.append(f"durability={profile.durability}")
    if getattr(profile, "history", None) is not None and HistoryPolicy(profile.history) == HistoryPolicy.KEEP_LAST:
        parts.append(f"depth={profile.depth}")
    return ", ".join(parts)


def describe_publishers(infos: Sequence) -> str:
    """'/ns/camera (reliability=best_effort, durability=volatile)' for each TopicEndpointInfo."""
    if not infos:
        return "none found"
    out = []
    for info in infos:
        known = info.node_name and not info.node_name.startswith("_NODE_NAME_UNKNOWN_")
        node = f"{info.node_namespace.rstrip('/')}/{info.node_name}" if known else "a node not yet discovered"
        out.append(f"{node} ({describe_qos(info.qos_profile)})")
    return "; ".join(out)


def incompatible_qos_message(topic: str, subscription: QoSProfile, publishers: Sequence, policy_kind,
                             setting: str) -> str:
    """The warning logged when a publisher's QoS cannot match the subscription: topic, both QoS settings
    and the parameter that fixes it."""
    try:
        policy = qos_policy_name_from_kind(policy_kind)
    except Exception:  # noqa: BLE001 - an unknown kind must not hide the warning
        policy = str(policy_kind)
    offered = [reliability_name(i.qos_profile.reliability) for i in publishers]
    if policy == "RELIABILITY" or "best_effort" in offered:
        fix = (f"set parameter {PARAMETER} to best_effort (or auto, which follows the publishers)"
               if setting != "best_effort" else f"set parameter {PARAMETER} to auto")
    else:
        fix = f"make the publisher's {policy.lower()} policy compatible (the subscription is volatile)"
    return (f"QoS mismatch on {topic}: a publisher offers QoS incompatible with this subscription "
            f"(policy {policy}); subscription: {describe_qos(subscription)} ({PARAMETER}={setting}); "
            f"publishers: {describe_publishers(publishers)}. To receive its images, {fix}.")


@dataclass
class FrameWatchdog:
    """Tells when publishers exist on the input topic but no frame has arrived for `timeout` seconds, or for
    SILENCE_PERIODS of the camera's own frame interval when that is longer (a slow camera is not silent between
    two frames).

    Feed it frame() on every message and check() periodically; check() answers True at most once per
    limit while the silence lasts.
    """
    timeout: float = 5.0
    _since: float | None = None       # start of the current silence while publishers exist

    def frame(self, now: float) -> None:
        self._since = now

    def limit(self, interval: float | None = None) -> float:
        return max(self.timeout, SILENCE_PERIODS * interval) if interval else self.timeout

    def check(self, now: float, publisher_count: int, interval: float | None = None) -> bool:
        if publisher_count <= 0:
            self._since = None
            return False
        if self._since is None:
            self._since = now
            return False
        if now - self._since >= self.limit(interval):
            self._since = now
            return True
        return False


def no_frames_message(topic: str, seconds: float, subscription: QoSProfile, publishers: Sequence,
                      setting: str, received: int = 0, interval: float | None = None) -> str:
    """The watchdog's warning; it names a likely cause only on evidence: frames came before (the publisher
    paused or stopped), or none ever came over best effort (large images lost by the default Fast DDS
    shared-memory segment)."""
    text = (f"{len(publishers)} publisher(s) on {topic} but no image for {seconds:.0f} s. Subscription: "
            f"{describe_qos(subscription)} ({PARAMETER}={setting}); publishers: {describe_publishers(publishers)}.")
    if received:
        usual = f" (its usual interval: {interval:.2f} s)" if interval else ""
        return (text + f" {received} frame(s) arrived before{usual}: the publisher paused or stopped sending "
                "(ros2 topic hz " + topic + ").")
    best_effort = ReliabilityPolicy(subscription.reliability) == ReliabilityPolicy.BEST_EFFORT or any(
        reliability_name(i.qos_profile.reliability) == "best_effort" for i in publishers)
    if best_effort:
        return (text + " None has arrived over best effort: large best-effort images are lost by the default "
                "Fast DDS shared-memory segment: make the camera publish reliable, or give its process a bigger "
                "segment (panoptic_ros/ros/fastdds_profile.xml via FASTDDS_DEFAULT_PROFILES_FILE; see README, "
                "transport).")
    return text + " None has arrived: check that the camera publishes (ros2 topic hz " + topic + ")."
