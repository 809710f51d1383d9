"""Training targets derived from one panoptic annotation (segment id map + segments_info).

Box and center convention (shared with the model's heads and with ``fuse(policy="closest_center")``):

* continuous pixel coordinates: pixel (x, y) covers [x, x+1) x [y, y+1), its center is (x + 0.5, y + 0.5);
* a box is the tight box of the instance's *visible* pixels in pixel-edge form
  ``xyxy = (x_min, y_min, x_max + 1, y_max + 1)``, so ``x2 - x1`` is the width in pixels
  (as COCO's [x, y, w, h] with w = x_max - x_min + 1);
* the instance center is the box center ``((x1 + x2) / 2, (y1 + y2) / 2)``;
* ``center_offsets[:, y, x] = center - (x + 0.5, y + 0.5)``: channel 0 = x, channel 1 = y, in pixels,
  so ``pixel center + offset`` lands on the box center.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .categories import IGNORE_LABEL, CategoryMap


def encode_targets(pan_id_map: np.ndarray | torch.Tensor, segments_info: list[dict],
                   categories: CategoryMap) -> dict[str, torch.Tensor]:
    """Segment ids [H,W] (0 = void) + their segments_info -> target tensors.

    Returns "semantic" int64 [H,W] channel index, IGNORE_LABEL (255) on void and crowd pixels; "boxes" float32 [N,4]
    xyxy (see the module docstring) of the non-crowd thing instances present in the map, in
    segments_info order; "labels" int64 [N] channel index; "instance_map" int64 [H,W] index into
    boxes or -1; "center_offsets" float32 [2,H,W] (0 off instances); "offset_weight" float32 [H,W]
    (1 on non-crowd thing pixels). Crowd segments are ignored everywhere (no box, semantic IGNORE_LABEL).
    Segments listed but absent from the map (e.g. resized away) are skipped; an id in the map
    but not in segments_info, or an unknown category id, raises ValueError.
    """
    ids = pan_id_map.cpu().numpy() if isinstance(pan_id_map, torch.Tensor) else np.asarray(pan_id_map)
    if ids.ndim != 2:
        raise ValueError(f"panoptic id map must be 2-D [H,W], got shape {ids.shape}")
    if ids.dtype.itemsize > 4 and ids.size and (ids.min() < -2**31 or ids.max() >= 2**31):
        ids = ids.astype(np.int64, copy=False)
    else:  # panoptic ids (< 256**3) fit: int32 sorts and searches about twice as fast as int64
        ids = ids.astype(np.int32, copy=False)
    h, w = ids.shape
    uniq = np.unique(ids)
    inv = np.searchsorted(uniq, ids).reshape(-1)  # index into uniq; faster than return_inverse
    slot = {int(u): j for j, u in enumerate(uniq)}

    segs: dict[int, dict] = {}
    for seg in segments_info:
        sid = int(seg["id"])
        if sid in segs:
            raise ValueError(f"segment id {sid} is listed twice in segments_info")
        segs[sid] = seg
    missing = [int(u) for u in uniq if u != 0 and int(u) not in segs]
    if missing:
        raise ValueError(f"segment ids {missing[:10]} are in the panoptic PNG but not in segments_info")

    sem_lut = np.full(len(uniq), IGNORE_LABEL, dtype=np.int64)
    inst_lut = np.full(len(uniq), -1, dtype=np.int64)
    labels: list[int] = []
    for sid, seg in segs.items():
        try:
            channel = categories.index(int(seg["category_id"]))
        except KeyError:
            raise ValueError(f"segment {sid} has unknown category_id {seg['category_id']}") from None
        j = slot.get(sid)
        if j is None or sid == 0 or _is_crowd(seg):
            continue
        sem_lut[j] = channel
        if categories.category(channel).isthing:
            inst_lut[j] = len(labels)
            labels.append(channel)

    semantic = sem_lut[inv].reshape(h, w)
    instance_map = inst_lut[inv].reshape(h, w)
    boxes, offsets = _boxes_and_offsets(instance_map, len(labels))
    return {
        "semantic": torch.from_numpy(semantic),
        "boxes": torch.from_numpy(boxes),
        "labels": torch.tensor(labels, dtype=torch.int64),
        "instance_map": torch.from_numpy(instance_map),
        "center_offsets": torch.from_numpy(offsets),
        "offset_weight": torch.from_numpy((instance_map >= 0).astype(np.float32)),
    }


def _is_crowd(seg: dict[str, Any]) -> bool:
    return bool(seg.get("iscrowd", 0))


def _boxes_and_offsets(instance_map: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Tight pixel-edge xyxy boxes of each instance index and the per-pixel offsets to their centers."""
    h, w = instance_map.shape
    offsets = np.zeros((2, h, w), dtype=np.float32)
    if n == 0:
        return np.zeros((0, 4), dtype=np.float32), offsets
    on = instance_map >= 0
    ys, xs = np.nonzero(on)
    k = instance_map[ys, xs]
    rows = np.zeros((n, h), dtype=bool)
    cols = np.zeros((n, w), dtype=bool)
    rows[k, ys] = True
    cols[k, xs] = True
    x1 = cols.argmax(1)
    x2 = w - cols[:, ::-1].argmax(1)      # x_max + 1
    y1 = rows.argmax(1)
    y2 = h - rows[:, ::-1].argmax(1)      # y_max + 1
    boxes = np.stack([x1, y1, x2, y2], 1).astype(np.float32)
    cx = (x1 + x2) / 2.0
    cy = (y1 + y2) / 2.0
    offsets[0, ys, xs] = cx[k] - (xs + 0.5)
    offsets[1, ys, xs] = cy[k] - (ys + 0.5)
    return boxes, offsets


def box_centers(boxes: torch.Tensor) -> torch.Tensor:
    """Centers [N,2] (x, y) of xyxy boxes, in the convention above."""
    return torch.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], dim=1)
