"""The node's model slot: the FrameProcessor (model + settings) frames run with, swapped whole, and the release of
a replaced model once the batch still using it has left the network.

Why: parameter changes (executor thread) and the inference thread meet here; the swap is one assignment under
a lock, so a frame sees the old settings or the new ones, never a mix.
"""
from __future__ import annotations

import gc
import threading
from collections.abc import Callable

from panoptic_ros.config import PanopticConfig
from panoptic_ros.pipeline import input_limits
from panoptic_ros.stream import FrameProcessor

from .. import params
from ..model_loading import release_cuda_cache
from ..palette import apply_palette


def config_for(model, values: dict) -> PanopticConfig:
    """The model's own config (its trained inference settings: NMS, max size ...) with the parameters set."""
    base = getattr(model, "cfg", None)
    return params.apply_values(base if isinstance(base, PanopticConfig) else PanopticConfig(), values)


def runtime_info(model) -> tuple[str, str]:
    """(runtime name, precision) of a pipeline; ("n/a", "n/a") for a model object without a runtime."""
    runtime = getattr(model, "runtime", None)
    return str(getattr(runtime, "name", "n/a")), str(getattr(runtime, "precision", "n/a"))


def describe_model(model, values: dict) -> str:
    """'<file> on <device>, runtime R, precision P' for the log."""
    runtime, precision = runtime_info(model)
    device = getattr(model, "device", values["device"])
    return f"{values['model'] or '(default)'} on {device}, runtime {runtime}, precision {precision}"


def effective_input_size(model, value: int) -> str:
    """input_size as predict() will use it (0 = the checkpoint's own setting, else its training min_size)."""
    if value:
        return str(value)
    cfg = getattr(model, "cfg", None)
    if cfg is None:
        return "0 (the model's own)"
    return f"0 (the model's own: {input_limits(cfg)[0]})"


def check_policy(model, name: str) -> None:
    """PolicyUnavailable (a ValueError, one line) when the model lacks the head merge policy `name` needs; models
    without check_policy (test models) accept every registered policy."""
    check = getattr(model, "check_policy", None)
    if check is not None:
        check(name)


class ModelSlot:
    """current: the FrameProcessor of the running model (None before configure / after cleanup). `lock` guards
    current together with the node's parameter values; take() / release() bracket a batch in the network."""

    def __init__(self, warn: Callable[[str], None], palette: dict | None = None):
        self.lock = threading.Lock()
        self.current: FrameProcessor | None = None
        self._warn = warn
        self.palette = palette or {}           # {class name: (r, g, b)} of the palette file (node parameter)
        self._frame_lock = threading.Lock()    # the model of the batch in flight vs. a replaced model to close
        self._in_flight = None
        self._retired = None

    def set(self, model, values: dict) -> FrameProcessor | None:
        """Run `model` with the parameter values from now on (call with `lock` held); returns the previous one."""
        processor = FrameProcessor(model, config_for(model, values))
        # the outputs draw (and ~/labels lists) the palette's colours
        processor.finisher.categories, unknown = apply_palette(model.categories, self.palette)
        if unknown and (self.current is None or self.current.model is not model):
            self._warn(f"palette: {', '.join(map(repr, unknown))} not classes of this model (its classes: "
                       f"{', '.join(model.categories.names)}); kept for a model that has them")
        old, self.current = self.current, processor
        return old

    def take(self) -> FrameProcessor | None:
        """The processor for the next batch; its model is kept open until release()."""
        with self._frame_lock:
            current = self.current
            self._in_flight = current.model if current is not None else None
            return current

    def release(self, close_retired: bool = True) -> None:
        """The batch left the network: close the model replaced meanwhile (unless shutting down)."""
        with self._frame_lock:
            self._in_flight = None
            retired, self._retired = self._retired, None
        if retired is not None and close_retired:
            self.close_model(retired)   # this batch was the last user of a replaced model

    def retire(self, model) -> None:
        """Close a replaced model and empty the CUDA cache: now, or when the batch still using it ends."""
        with self._frame_lock:
            if self._in_flight is model:
                self._retired = model
                return
        self.close_model(model)

    def close_model(self, model) -> None:
        try:
            close = getattr(model, "close", None)
            if close is not None:
                close()
        except Exception as exc:  # noqa: BLE001 - freeing must not take the node down
            self._warn(f"closing the replaced model failed: {type(exc).__name__}: {exc}")
        del model
        release_cuda_cache()

    def drop(self) -> None:
        """Release the model (and its GPU memory)."""
        with self.lock:
            current, self.current = self.current, None
        if current is not None:
            model = current.model
            del current
            self.close_model(model)
            del model
        gc.collect()
        release_cuda_cache()
