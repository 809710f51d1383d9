"""Resumable training state next to each epoch's model checkpoint.

The model itself is saved by panoptic_ros.modeling.checkpoint.save_checkpoint (safetensors + JSON sidecar).
Optimizer, scheduler, AMP scaler, epoch/iteration counters and RNG states go to ``<stem>_state.pt``: a torch.save
of tensors and primitives only, read back with torch.load(weights_only=True) (no arbitrary pickle).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch

CHECKPOINT_DIR = "checkpoints"
_EPOCH_RE = re.compile(r"^epoch_(\d+)\.safetensors$")


@dataclass
class CheckpointPaths:
    model: Path   # epoch_NNNN.safetensors (+ epoch_NNNN.json written by save_checkpoint)
    state: Path   # epoch_NNNN_state.pt

    @property
    def sidecar(self) -> Path:
        return self.model.with_suffix(".json")


def epoch_paths(output_dir: str | Path, epoch: int) -> CheckpointPaths:
    d = Path(output_dir) / CHECKPOINT_DIR
    return CheckpointPaths(d / f"epoch_{epoch:04d}.safetensors", d / f"epoch_{epoch:04d}_state.pt")


def paths_for(model_path: str | Path) -> CheckpointPaths:
    """The state file that belongs to a model checkpoint (or the model that belongs to a state file)."""
    p = Path(model_path)
    if p.name.endswith("_state.pt"):
        return CheckpointPaths(p.with_name(p.name[: -len("_state.pt")] + ".safetensors"), p)
    return CheckpointPaths(p, p.with_name(p.stem + "_state.pt"))


def list_checkpoints(output_dir: str | Path) -> list[tuple[int, CheckpointPaths]]:
    """Complete (model + sidecar + state) epoch checkpoints in output_dir, oldest first."""
    d = Path(output_dir) / CHECKPOINT_DIR
    found = []
    if d.is_dir():
        for p in d.iterdir():
            m = _EPOCH_RE.match(p.name)
            if m:
                paths = paths_for(p)
                if paths.state.is_file() and paths.sidecar.is_file():
                    found.append((int(m.group(1)), paths))
    return sorted(found, key=lambda t: t[0])


def latest_checkpoint(output_dir: str | Path) -> CheckpointPaths | None:
    found = list_checkpoints(output_dir)
    return found[-1][1] if found else None


def resolve_resume(resume: str, output_dir: str | Path) -> CheckpointPaths | None:
    """``--resume``: "auto" = the latest complete checkpoint in output_dir (None if there is none), else a path."""
    if resume == "auto":
        return latest_checkpoint(output_dir)
    paths = paths_for(resume)
    for p in (paths.model, paths.state):
        if not p.is_file():
            raise FileNotFoundError(f"cannot resume: {p} not found (give epoch_NNNN.safetensors from "
                                    f"{Path(output_dir) / CHECKPOINT_DIR} or --resume auto)")
    return paths


def save_state(path: str | Path, *, epoch: int, iteration: int, optimizer: torch.optim.Optimizer,
               scheduler, scaler, rng: dict | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"epoch": int(epoch), "iteration": int(iteration), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "rng": rng or {}}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_state(path: str | Path) -> dict:
    """Read a training state file (weights_only); a clear error names a corrupt file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training state not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated / foreign files
        raise ValueError(f"{path}: not a readable training state ({type(exc).__name__}: {exc})") from None
    missing = {"epoch", "iteration", "optimizer", "scheduler", "scaler"} - set(state if isinstance(state, dict) else ())
    if missing:
        raise ValueError(f"{path}: training state lacks {', '.join(sorted(missing))}")
    return state


def prune(output_dir: str | Path, keep_last: int) -> None:
    """Delete all but the newest keep_last epoch checkpoints (0 = keep all)."""
    if keep_last <= 0:
        return
    for _, paths in list_checkpoints(output_dir)[:-keep_last]:
        for p in (paths.model, paths.sidecar, paths.state):
            p.unlink(missing_ok=True)
