"""Saving and loading models: safetensors weights + a JSON sidecar (config, categories, extra).

Never pickle: .safetensors is read with safetensors, and a plain torch .pt/.pth state dict is read with
torch.load(weights_only=True). The sidecar carries everything needed to rebuild the network, so
load_checkpoint(path) alone gives a ready model.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..config import ConfigError, PanopticConfig, from_dict, to_dict
from ..data.categories import CategoryMap
from ..utils.atomic import staged_files
from ..utils.json_io import dumps
from .device import resolve_device
from .panoptic_model import PanopticModel

FORMAT = "panoptic_ros/1"


class CheckpointError(ValueError):
    """A checkpoint (or its sidecar) is missing a part, corrupt or does not fit the model; names the file."""


def sidecar_path(path: str | Path) -> Path:
    return Path(path).with_suffix(".json")


def save_checkpoint(path: str | Path, model: PanopticModel, cfg: PanopticConfig | None = None,
                    categories: CategoryMap | None = None, extra: dict | None = None) -> Path:
    """Write path (.safetensors) and path.with_suffix(".json"); returns the weights path."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"{path}: checkpoints are written as .safetensors")
    cfg = cfg if cfg is not None else model.cfg
    categories = categories if categories is not None else model.categories
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    sidecar = {"format": FORMAT, "config": to_dict(cfg), "categories": categories.to_list(), "extra": extra or {}}
    # weights and sidecar are written under temporary names, fsynced, then renamed (sidecar last): a crash never
    # leaves a truncated file next to a valid sidecar
    with staged_files([path, sidecar_path(path)]) as (tmp_weights, tmp_sidecar):
        save_file(state, str(tmp_weights), metadata={"format": FORMAT})
        tmp_sidecar.write_text(dumps(sidecar) + "\n")
    return path


def read_sidecar(path: str | Path) -> dict:
    """The JSON sidecar of a checkpoint: {"config", "categories", "extra"} (CheckpointError if unusable)."""
    side = sidecar_path(path)
    if not side.is_file():
        raise FileNotFoundError(f"checkpoint sidecar not found: {side} (written next to {Path(path).name} by "
                                "save_checkpoint; it holds the config and categories)")
    try:
        data = json.loads(side.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{side}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or "config" not in data or "categories" not in data:
        raise CheckpointError(f"{side}: expected a JSON object with 'config' and 'categories'")
    _check_sidecar_shape(data, side)
    return data


def _check_sidecar_shape(side: dict, where: str | Path) -> None:
    """Types of the sidecar's parts (config: object of sections, categories: list, extra: object) before any
    code walks them, so a hand-edited or foreign sidecar is one clear error instead of an AttributeError."""
    for key, kind, name in (("config", dict, "an object of sections"), ("categories", list, "a list"),
                            ("extra", dict, "an object")):
        value = side.get(key)
        if key == "extra" and value is None:
            continue
        if not isinstance(value, kind):
            raise CheckpointError(f"{where}: '{key}' must be {name}, not {type(value).__name__}")


def upgrade_config(config: dict) -> dict:
    """A checkpoint's stored config in today's keys: ``inference.half`` (before the runtimes) became
    ``inference.precision`` (true -> fp16; false -> auto, which is fp32 where half applied)."""
    config = {k: dict(v) if isinstance(v, dict) else v for k, v in (config or {}).items()}
    inference = config.get("inference")
    if isinstance(inference, dict) and "half" in inference:
        half = inference.pop("half")
        if half is True and "precision" not in inference:
            inference["precision"] = "fp16"
    return config


def sidecar_config(side: dict, where: str | Path) -> PanopticConfig:
    """The PanopticConfig of a sidecar (checkpoint or export), upgraded to today's keys; CheckpointError names
    ``where`` when it is unusable."""
    _check_sidecar_shape(side, where)
    try:
        return from_dict(upgrade_config(side["config"]))
    except ConfigError as exc:
        raise CheckpointError(f"{where}: bad config: {exc}") from None


def sidecar_categories(side: dict, where: str | Path) -> CategoryMap:
    """The CategoryMap of a sidecar (checkpoint or export); CheckpointError names ``where`` when unusable."""
    try:
        return CategoryMap.from_list(side["categories"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}: bad categories: {exc}") from None


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu", *, cfg: PanopticConfig | None = None,
                    categories: CategoryMap | None = None) -> PanopticModel:
    """Rebuild a PanopticModel from a checkpoint, in eval mode on ``device`` ("auto", "cpu", "cuda:N" ...).

    .safetensors: config and categories come from the sidecar (cfg, if given, replaces its config, e.g.
    to change inference settings). .pt/.pth: a state dict (or {"model": state dict}) read with
    torch.load(weights_only=True); config and categories from the sidecar if present, else from the cfg
    and categories arguments. The extra dict of the sidecar is attached as ``model.checkpoint_extra``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    extra: dict = {}
    if path.suffix == ".safetensors" or sidecar_path(path).is_file():
        side = read_sidecar(path)
        extra = side.get("extra") or {}
        if cfg is None:
            cfg = sidecar_config(side, sidecar_path(path))
        if categories is None:
            categories = sidecar_categories(side, sidecar_path(path))
    if cfg is None or categories is None:
        raise CheckpointError(f"{path}: a {path.suffix} state dict has no config/categories; pass a config "
                              f"(--config) and categories, or put a {sidecar_path(path).name} sidecar next to it")

    state = _read_state_dict(path)
    try:
        model = PanopticModel(cfg, categories, from_checkpoint=True)
    except ValueError as exc:
        raise CheckpointError(f"{path}: cannot build the model it describes: {exc}") from None
    problem = _mismatch(model, state)
    if problem:
        raise CheckpointError(f"{path}: weights do not fit the model of its config (backbone "
                              f"{cfg.model.backbone}, fpn_channels {cfg.model.fpn_channels}, {len(categories)} "
                              f"categories): {problem}")
    model.load_state_dict(state, strict=True)
    model.checkpoint_extra = extra
    return model.to(resolve_device(str(device)) if not isinstance(device, torch.device) else device).eval()


def load_matching_weights(model: PanopticModel, path: str | Path) -> list[str]:
    """Copy the tensors of checkpoint ``path`` whose name and shape match into ``model`` (model.init_weights);
    returns the names of the model's tensors left at their initialisation. ValueError when nothing matches."""
    state = _read_state_dict(Path(path).expanduser())
    own = model.state_dict()
    fits = {k: v for k, v in state.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    if not fits:
        raise ValueError(f"model.init_weights: no tensor of {path} fits this model")
    with torch.no_grad():
        for k, v in fits.items():
            own[k].copy_(v.to(own[k].dtype))
    return sorted(set(own) - set(fits))


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: not a valid safetensors file (corrupt or truncated?): {exc}") from None
    if path.suffix in (".pt", ".pth"):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle errors, zip errors, unsafe globals
            raise CheckpointError(f"{path}: cannot read as a torch state dict (weights_only): {exc}") from None
        if isinstance(state, dict) and isinstance(state.get("model"), dict):
            state = state["model"]
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointError(f"{path}: expected a state dict of tensors (or {{'model': state dict}})")
        return state
    raise CheckpointError(f"{path}: unknown checkpoint type {path.suffix!r} (expected .safetensors, .pt or .pth)")


def _mismatch(model: torch.nn.Module, state: dict) -> str:
    """A short description of missing / unexpected / differently shaped tensors ('' if they fit)."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
              if k in state and state[k].shape != v.shape]
    parts = []
    if missing:
        parts.append(f"missing {_few(missing)}")
    if unexpected:
        parts.append(f"unexpected {_few(unexpected)}")
    if shapes:
        parts.append(f"shape mismatch (checkpoint vs model) {_few(shapes, 3)}")
    return "; ".join(parts)


def _few(keys: list[str], n: int = 5) -> str:
    if not keys:
        return "none"
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more
