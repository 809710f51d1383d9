"""How panoptic_node gets its model: a fast check, a (slow) load, and the load on a background thread.

A model reload (parameters model / device / runtime / precision) takes seconds (checkpoint, export, runtime
start). The node's parameter callback only runs ModelLoader.check() (the file exists, the runtime is installed,
the device and precision are possible: fractions of a second) and answers at once; BackgroundLoad then runs
ModelLoader.load() on its own thread while frames keep flowing through the current model, and the node
switches when it is ready. No ROS import: unit-testable with plain callables.

A loader is any object with check(values) and load(values) (values = the node's parameter values); the node
uses PipelineLoader unless one is passed to its constructor (the tests pass a test model that way; production
code has no switch that loads other code).
"""
from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from panoptic_ros.modeling.shipped import is_shipped_model, shipped_model_note
from panoptic_ros.pipeline import build_pipeline, resolve_model_path
from panoptic_ros.runtime import resolve_precision, resolve_runtime

from .params import parameter_by_name


def inference_values(values: dict) -> dict:
    """The node's parameters of the inference section ({field: value}): the pipeline is built with them (runtime
    auto then picks a runtime for the node's merge policy; num_threads goes to the runtime)."""
    known = parameter_by_name()
    return {known[name].key.split(".", 1)[1]: value for name, value in values.items()
            if name in known and known[name].key.startswith("inference.")}


class ModelLoadError(RuntimeError):
    """The model cannot be loaded; the message names the file and the reason."""


class PipelineLoader:
    """The production loader: panoptic_ros.pipeline.build_pipeline for model ("" = the shipped model), device,
    runtime and precision; every failure is a ModelLoadError with one clear line.

    note: called once with one line the first time the shipped model is loaded (it only knows synthetic shapes,
    which nothing in its output says; the node passes its info log)."""

    def __init__(self, note: Callable[[str], None] | None = None):
        self._note = note

    def check(self, values: dict) -> None:
        """Fast checks of a parameter change: the file exists, the runtime is installed and runs the file on the
        device in the precision (no file is read)."""
        file = self._file(values)
        try:
            runtime_cls, device = resolve_runtime(values["runtime"], values["device"], file)
            resolve_precision(runtime_cls, device, values["precision"])
        except Exception as exc:  # noqa: BLE001 - ValueError / RuntimeNotInstalled, one line each
            raise ModelLoadError(f"cannot load model {file}: {exc}") from None

    def load(self, values: dict):
        file = self._file(values)
        try:
            pipeline = build_pipeline(file, device=values["device"], runtime=values["runtime"],
                                      precision=values["precision"], overrides=inference_values(values))
        except Exception as exc:  # noqa: BLE001 - CheckpointError, RuntimeNotInstalled, ValueError, OSError ...
            reason = str(exc) if str(file) in str(exc) else f"{file}: {exc}"
            raise ModelLoadError(f"cannot load model {reason}") from None
        if self._note is not None and is_shipped_model(file):
            self._note(shipped_model_note(pipeline.categories))
            self._note = None
        return pipeline

    @staticmethod
    def _file(values: dict):
        try:
            return resolve_model_path(values["model"])
        except FileNotFoundError as exc:
            raise ModelLoadError(str(exc)) from None


class BackgroundLoad:
    """load(values) on a daemon thread; on_done() is called from that thread when it ended (model or error).

    changes: the reload parameters this load applies (the node sets them back if it fails)."""

    def __init__(self, load: Callable[[dict], Any], values: dict, changes: dict, on_done: Callable[[], None]):
        self.values, self.changes = values, changes
        self.model: Any = None
        self.error: BaseException | None = None
        self.started = time.monotonic()
        self.seconds = float("nan")
        self._load, self._on_done = load, on_done
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="panoptic-model-load", daemon=True)

    def start(self) -> BackgroundLoad:
        self._thread.start()
        return self

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float) -> bool:
        return self._done.wait(timeout)

    def _run(self) -> None:
        try:
            self.model = self._load(self.values)
        except BaseException as exc:  # noqa: BLE001 - reported by the node, which keeps its model
            self.error = exc
        finally:
            self.seconds = time.monotonic() - self.started
            self._done.set()
            self._on_done()


def release_cuda_cache() -> None:
    """After a model was dropped: collect it and give its cached CUDA memory back. No-op without CUDA (a full
    gc.collect() holds the GIL ~0.4 s with torch loaded; on the CPU reference counting frees the model)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        gc.collect()
        torch.cuda.empty_cache()
