"""A short-lived rclpy session for the bag tools: init, one node, SIGINT/SIGTERM -> a stop flag, clean shutdown.

Fast DDS gets the package's large-message profile first (panoptic_ros.ros.transport), as the node does.
The player and the recorder run plain loops (not rclpy.spin), so signals set ``stop`` and the loops end on
their own; rclpy's own signal handlers are switched off where rclpy allows it (Humble and later).
"""
from __future__ import annotations

import signal
import threading

from ..transport import use_large_message_profile


class RosSession:
    def __init__(self, node_name: str):
        self.node_name = node_name
        self.stop = threading.Event()
        self.node = None
        self._old_handlers = {}

    def _on_signal(self, signum, frame) -> None:
        self.stop.set()

    def __enter__(self) -> RosSession:
        import rclpy

        use_large_message_profile()  # camera-sized frames over Fast DDS shared memory (see transport.py)
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old_handlers[sig] = signal.signal(sig, self._on_signal)
        try:
            from rclpy.signals import SignalHandlerOptions
            rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
        except ImportError:  # older rclpy without signal options
            rclpy.init()
        self.node = rclpy.create_node(self.node_name)
        return self

    def __exit__(self, *exc) -> None:
        import rclpy

        try:
            if self.node is not None:
                self.node.destroy_node()
        finally:
            rclpy.try_shutdown()
            for sig, handler in self._old_handlers.items():
                signal.signal(sig, handler)

    def sleep(self, seconds: float) -> bool:
        """Sleep unless stopped; returns False when a stop was requested."""
        return not self.stop.wait(max(0.0, seconds))
