"""panoptic_lifecycle_node: panoptic_node as a managed (lifecycle) node, for launch systems that bring nodes up
in order. Same parameters, inputs and outputs as panoptic_node (entry.py); the transitions map to:

configure   load the model (FAILURE with the reason logged, the node stays unconfigured, when it does not load),
            create the output publishers (lifecycle publishers: silent until activated) and publish ~/labels
            (latched, so it is there for late subscribers even before activation)
activate    subscribe the image (and depth) inputs, start the batch worker and the timers
deactivate  unsubscribe, drop the waiting frames, let the running batch finish, reset the trackers; the model
            stays loaded (activate again is instant)
cleanup     destroy the publishers and free the model (and its GPU memory: gc + torch.cuda.empty_cache())
shutdown    deactivate and clean up as needed

Parameter changes work in every state; model / device / runtime / precision changes before configure are just
stored and used by configure.
"""
from __future__ import annotations

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from .. import params
from ..model_loading import ModelLoadError
from ..names import LIFECYCLE_EXECUTABLE, NODE_NAME
from .core import SHUTDOWN_FRAME_WAIT, PanopticNodeCore
from .entry import run


class PanopticLifecycleNode(PanopticNodeCore, LifecycleNode):
    """See the module docstring. model_loader: as PanopticNode (tests)."""

    def __init__(self, *, model_loader=None, **kwargs):
        LifecycleNode.__init__(self, NODE_NAME, **kwargs)
        self._init_core(model_loader)
        self._active = False
        self._configured = False
        self._log.info(f"ready: lifecycle node unconfigured; inputs "
                       f"{', '.join(c.topic for c in self.cameras)} (configure, then activate)")

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._load_first_model()
        except (ModelLoadError, params.ParameterError) as exc:
            self._log.logger.error(f"configure failed, staying unconfigured: {exc}")
            return TransitionCallbackReturn.FAILURE
        self._create_outputs(self.create_lifecycle_publisher)
        self._configured = True
        self._log.info("configured: " + self._ready_text())
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)          # activates the lifecycle publishers
        if result != TransitionCallbackReturn.SUCCESS:
            return result
        self._start_inputs()
        self._active = True
        self._log.info("activated: " + self._ready_text())
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._deactivate()
        self._log.info("deactivated: inputs unsubscribed, model kept")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._cleanup()
        self._log.info("cleaned up: model released")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.shutdown()
        return TransitionCallbackReturn.SUCCESS

    def _deactivate(self, timeout: float = SHUTDOWN_FRAME_WAIT) -> bool:
        finished = True
        if self._active:
            finished = self._stop_inputs(timeout)
            self._reset_trackers("deactivated")
            self._active = False
        return finished

    def _cleanup(self) -> None:
        if self._configured:
            self._destroy_outputs()
            self._drop_model()
            self._configured = False

    def shutdown(self, timeout: float = SHUTDOWN_FRAME_WAIT) -> bool:
        """Deactivate and clean up whatever state the node is in (end of the process)."""
        finished = self._deactivate(timeout)
        self._closing = True
        self._wait_for_load(timeout)
        if not finished:
            self._log.warn(self._abandon_message(timeout))
        else:
            self._cleanup()
        return finished


def main(argv: list[str] | None = None, *, model_loader=None) -> int:
    """Entry point of lib/panoptic_ros/panoptic_lifecycle_node (exit codes as panoptic_node)."""
    return run(lambda: PanopticLifecycleNode(model_loader=model_loader), argv, LIFECYCLE_EXECUTABLE)

