"""PanopticNode (everything at construction) and the executables' start-up: init rclpy, build, spin, shut down."""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from .. import params, transport
from ..exit_signals import StopSignal, install_early, stop_requested
from ..model_loading import ModelLoadError
from ..names import NODE_EXECUTABLE, NODE_NAME
from .core import SHUTDOWN_FRAME_WAIT, PanopticNodeCore


class PanopticNode(PanopticNodeCore, Node):
    """panoptic_node (see the package docstring). Raises ModelLoadError / params.ParameterError from the constructor.

    model_loader: an object with check(values) and load(values) (model_loading.PipelineLoader by default);
    the tests pass a test model this way."""

    def __init__(self, *, model_loader=None, **kwargs):
        Node.__init__(self, NODE_NAME, **kwargs)
        self._init_core(model_loader)
        self._load_first_model()
        self._create_outputs()
        self._start_inputs()
        self._log.info("ready: " + self._ready_text())

    def shutdown(self, timeout: float = SHUTDOWN_FRAME_WAIT) -> bool:
        """Stop taking frames and give the running batch `timeout` seconds to finish; False (and a warning) when
        it was abandoned (its outputs are not published; the worker is a daemon thread and ends with the
        process)."""
        finished = self._stop_inputs(timeout)
        self._closing = True
        self._wait_for_load(timeout)
        if not finished:
            self._log.warn(self._abandon_message(timeout))
        return finished


SPIN_PERIOD = 0.1             # s the spin loop waits at most before looking at the stop request


def _init_rclpy(argv: list[str]) -> None:
    """rclpy.init without rclpy's signal handlers (exit_signals.py says why)."""
    try:
        from rclpy.signals import SignalHandlerOptions
    except ImportError:   # an rclpy without the option: its handlers are replaced by ours right after
        rclpy.init(args=argv)
    else:
        rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)


def run(make_node: Callable[[], Any], argv: list[str] | None, name: str = NODE_EXECUTABLE) -> int:
    """Init rclpy, build the node, spin until SIGINT / SIGTERM, shut down. 0 on a signal (whenever it comes: during
    start-up, mid-frame, during a model reload), 1 on a start-up error."""
    argv = sys.argv if argv is None else argv
    signals = install_early()
    node = None
    try:
        transport.use_large_message_profile()
        try:
            _init_rclpy(argv)
        except Exception as exc:  # noqa: BLE001 - e.g. an unreadable --params-file: one line, no traceback
            if stop_requested():
                return 0
            print(f"[{name}] error: cannot start: {exc}", file=sys.stderr, flush=True)
            return 1
        signals.install()             # ours again, whatever rclpy.init did
        try:
            node = make_node()
        except (ModelLoadError, params.ParameterError) as exc:
            if stop_requested():          # the signal interrupted the load: a stop, not a start-up error
                return 0
            print(f"[{name}] error: {exc}", file=sys.stderr, flush=True)
            return 1
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        signals.running()
        while not signals.stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=SPIN_PERIOD)
    except (StopSignal, KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if not stop_requested():   # else the signal, surfacing as the error of the C call it interrupted
            raise
    finally:
        signals.stopping()
        if node is not None:
            node.shutdown()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


def main(argv: list[str] | None = None, *, model_loader=None) -> int:
    """Entry point of lib/panoptic_ros/panoptic_node. Exit 0 on SIGINT/SIGTERM (also with a frame abandoned
    in inference), 1 on a start-up error. model_loader: see PanopticNode (tests only)."""
    return run(lambda: PanopticNode(model_loader=model_loader), argv)
