"""Shipping a trained checkpoint: float32 weights stored as float16 halve the file (the shipped default model
stays a few MB); load_checkpoint() copies them back into the float32 model, so nothing else changes."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..utils.json_io import write_json


def release_checkpoint(src: str | Path, dst: str | Path, *, half: bool = True, extra: dict | None = None) -> Path:
    """Copy checkpoint src (.safetensors + .json) to dst, float32 tensors as float16 when `half`.

    extra: merged into the sidecar's "extra" (e.g. the evaluation report). Returns dst.
    """
    from safetensors.torch import load_file, save_file

    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise FileNotFoundError(f"checkpoint not found: {src}")
    if dst.suffix != ".safetensors":
        raise ValueError(f"{dst}: checkpoints are written as .safetensors")
    state = load_file(str(src))
    if half:
        state = {k: (v.half() if v.dtype == torch.float32 else v).contiguous() for k, v in state.items()}
    side = json.loads(src.with_suffix(".json").read_text())
    side.setdefault("extra", {}).update(extra or {})
    side["extra"]["stored_dtype"] = "float16" if half else "float32"
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(dst), metadata={"format": side.get("format", "panoptic_ros/1")})
    write_json(dst.with_suffix(".json"), side)
    return dst


def report_table(report: dict) -> str:
    """The release scripts' per-split, per-policy table of an evaluation report ({split: {policy: summary}})."""
    lines = []
    for split in ("val", "val_overlap"):
        lines.append(f"{split}:")
        lines.append(f"  {'policy':20s}{'PQ':>7}{'PQth':>7}{'PQst':>7}{'mIoU':>7}{'AP':>7}{'FPS':>7}")
        for policy, r in report[split].items():
            lines.append(f"  {policy:20s}{r['PQ']:7.1f}{r['PQ_th']:7.1f}{r['PQ_st']:7.1f}{r['mIoU']:7.1f}"
                         f"{r['AP']:7.1f}{r['FPS']:7.1f}")
    return "\n".join(lines)
