"""What the node tells about itself (a mixin of PanopticNodeCore): /diagnostics (one status per camera) and the
"ready:" line (model, input size, inputs, QoS, where the outputs are).
"""
from __future__ import annotations

import time

from diagnostic_msgs.msg import DiagnosticArray

from .. import diagnostics, qos
from .model_slot import describe_model, effective_input_size, runtime_info


class StatusReporting:
    """Needs of the node: _slot, _values, _transport, _batch_sizes, _pub_diagnostics, cameras, _publisher_infos()."""

    def _publish_diagnostics(self) -> None:
        current = self._slot.current
        if current is None or self._pub_diagnostics is None:
            return
        now = time.monotonic()
        model, inference = current.model, current.cfg.inference
        runtime, precision = runtime_info(model)
        sizes = list(self._batch_sizes)
        batch = f"{sum(sizes) / len(sizes):.2f}" if sizes else "n/a"
        statuses = []
        for cam in self.cameras:
            snap = cam.stats.snapshot(now)
            extra = {"runtime": runtime, "precision": precision, "input topic": cam.topic,
                     "subscription": qos.describe_qos(cam.qos) if cam.qos is not None else "none",
                     "merge policy": inference.merge_policy, "tracking": inference.tracking,
                     "tracks": cam.tracks.num_tracks, "batch size (mean)": batch}
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
        model = self._slot.current.model
        several = len(self.cameras) > 1
        inputs = ", ".join(f"{c.name}: {c.topic}" if several else c.topic for c in self.cameras)
        reliability = ", ".join(sorted({qos.reliability_name(c.reliability) for c in self.cameras if c.reliability}))
        return (f"model {describe_model(model, self._values)}, input_size "
                f"{effective_input_size(model, self._values['input_size'])}, listening on {inputs} "
                f"({self._transport}, {reliability or 'not subscribed'}), outputs under "
                f"{self.get_fully_qualified_name()}/" + ("<camera>/" if several else ""))
