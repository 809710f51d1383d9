"""Clean exits on SIGINT / SIGTERM at any moment of the node's life: exit code 0, no traceback.

Why not rclpy's own handlers: they shut the context down from the signal handler, racing the executor, which
then fails to build its wait set ("RCLError: ... the given context is not valid", exit 1, once in 7 SIGINTs);
a SIGTERM before rclpy.init (while torch imports) killed the process by the signal. Here the node's executables
take both signals themselves, in three phases:
    starting   (imports, rclpy.init, model load) the signal ends start-up at once: StopSignal is raised
    running    the spin loop is asked to stop; it returns within one wait period
    stopping   (shutdown and clean-up in progress) further signals are ignored
No rclpy or package import: the executables install it before their heavy imports.
"""
from __future__ import annotations

import importlib
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignal(BaseException):
    """SIGINT / SIGTERM during start-up (BaseException: no `except Exception` on the way swallows it)."""


class ExitSignals:
    """The process's SIGINT / SIGTERM handling (main thread only); see the module docstring."""

    def __init__(self):
        self.stop = threading.Event()
        self.phase = "starting"
        self.received: int | None = None

    def install(self) -> ExitSignals:
        for sig in SIGNALS:
            signal.signal(sig, self._handle)
        return self

    def running(self) -> None:
        """Start-up is over: from now on a signal only asks the spin loop to stop (and one that came in the
        meantime is kept)."""
        self.phase = "running"

    def stopping(self) -> None:
        self.phase = "stopping"

    def _handle(self, signum, _frame) -> None:
        if self.received is None:
            self.received = signum
        self.stop.set()
        if self.phase == "starting":
            self.phase = "stopping"
            raise StopSignal(signum)


_early: ExitSignals | None = None


def install_early() -> ExitSignals:
    """The handling for the whole process, installed first thing by the executables (before torch and rclpy
    import); run() takes it over. Idempotent."""
    global _early
    if _early is None:
        _early = ExitSignals().install()
    return _early


def stop_requested() -> bool:
    """True once SIGINT / SIGTERM came (an error raised after it is the stop, not a failure: StopSignal raised
    inside a C extension's import or call comes out as that extension's error, e.g. ImportError)."""
    return _early is not None and _early.stop.is_set()


def guarded(run) -> int:
    """run() with the signal handling installed first; an exception after SIGINT / SIGTERM is the stop: 0."""
    install_early()
    try:
        return run()
    except BaseException:
        if stop_requested():
            return 0
        raise


def start(module: str, argv: list[str] | None = None) -> int:
    """What an executable runs: the signal handling first, then `module`'s main(argv) (imported now: torch and
    rclpy take seconds to import, and a signal meanwhile is a clean exit too)."""
    return guarded(lambda: importlib.import_module(module).main(argv))
