"""The node's parameter callback and model swap (a mixin of PanopticNodeCore).

Why: a change of model / device / runtime / precision must answer the set-parameters call at once, load in
the background (model_loading.BackgroundLoad) while frames keep flowing through the current model, and switch
(or set the parameters back, logged and counted) when the load ends; per-frame settings are swapped whole.
"""
from __future__ import annotations

from rcl_interfaces.msg import SetParametersResult
from rclpy.parameter import Parameter

from panoptic_ros.config import ConfigError
from panoptic_ros.panoptic.policies import PolicyUnavailable

from .. import params
from ..model_loading import BackgroundLoad
from .model_slot import check_policy, describe_model


class ParameterHandling:
    """Needs of the node: _slot, _values, _loader, _loading, _load_done, _closing, _log, cameras,
    _publish_labels()."""

    def _reset_trackers(self, reason: str) -> None:
        for cam in self.cameras:
            cam.tracks.request_reset(reason)

    def _count_all(self, counter: str) -> None:
        for cam in self.cameras:
            cam.stats.count(counter)

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        """Validate against the schema and answer at once. Per-frame settings are swapped atomically; a change
        of model/device/runtime/precision is checked (fast) and then loaded in the background (_finish_load
        switches). One reload at a time: a second one while loading is refused with that reason. A merge_policy
        the loaded model cannot run is refused (PolicyUnavailable)."""
        try:
            changes = params.check_parameters(parameters)
        except ConfigError as exc:   # the start-up's wording (params.declare_parameters)
            return SetParametersResult(successful=False, reason=f"parameter {exc}")
        if not changes:
            return SetParametersResult(successful=True)
        slot = self._slot
        with slot.lock:
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
                    self._log.warn(f"parameter change refused, keeping the current model: {exc}")
                    return SetParametersResult(successful=False, reason=f"kept the current model: {exc}")
            if "merge_policy" in changes and slot.current is not None and not reload:
                try:
                    check_policy(slot.current.model, changes["merge_policy"])
                except PolicyUnavailable as exc:
                    self._log.warn(f"parameter change refused: {exc}")
                    return SetParametersResult(successful=False, reason=str(exc))
            if changes.get("tracking") and not self._values["tracking"]:
                self._reset_trackers("tracking turned on")
            values = {**self._values, **{k: v for k, v in changes.items() if k not in reload}}
            if slot.current is None:             # lifecycle node not configured: the values wait for configure
                self._values = {**values, **reload}
                reload = {}
            else:
                self._values = values
                slot.set(slot.current.model, values)
            if reload:
                self._loading = BackgroundLoad(self._loader.load, {**values, **reload}, reload,
                                               self._load_ended).start()
        self._log.info("parameters set: " + ", ".join(f"{k}={v!r}" for k, v in changes.items())
                       + (" (loading the model in the background)" if reload else ""))
        return SetParametersResult(successful=True)

    def _load_ended(self) -> None:
        """Load thread: wake the executor for _finish_load (not once shutdown began: the guard condition may be
        gone with the node)."""
        if self._closing:
            return
        try:
            self._load_done.trigger()
        except Exception:  # noqa: BLE001 - destroyed between the check and the call: shutting down
            if not self._closing:
                raise

    def _finish_load(self) -> None:
        """Executor thread, when a background load ended: switch to the new model (and release the old one),
        or keep the old one, count and log the failure and set the reload parameters back."""
        job, slot = self._loading, self._slot
        if job is None or not job.done or self._closing:
            return
        error = job.error
        if error is None:
            try:
                check_policy(job.model, self._values["merge_policy"])
            except PolicyUnavailable as exc:
                error = exc
                slot.close_model(job.model)
                job.model = None
        if slot.current is None:         # lifecycle cleanup while loading: keep the values for configure
            with slot.lock:
                self._loading = None
                self._values = {**self._values, **job.changes}
            if job.model is not None:
                slot.close_model(job.model)
                job.model = None
            return
        if error is not None:
            with slot.lock:
                self._loading = None
                old = {k: self._values[k] for k in job.changes}
            self._count_all("load_failures")
            self._log.logger.error(
                f"loading the model for {', '.join(f'{k}={v!r}' for k, v in job.changes.items())} failed after "
                f"{job.seconds:.1f} s, keeping {describe_model(slot.current.model, self._values)}: "
                f"{type(error).__name__}: {error}; parameters set back to "
                + ", ".join(f"{k}={v!r}" for k, v in old.items()))
            self.set_parameters([Parameter(k, value=v) for k, v in old.items()])
            return
        with slot.lock:
            self._loading = None
            values = {**self._values, **job.changes}
            self._values = values
            old = slot.set(job.model, values).model
        self._reset_trackers("model changed")
        self._log.info(f"loaded model {describe_model(job.model, values)} in {job.seconds:.1f} s")
        job.model = None
        self._publish_labels()
        slot.retire(old)
