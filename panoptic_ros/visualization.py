"""Drawing panoptic results for people: colour maps and a labelled overlay (OpenCV; no ROS).

Colours: stuff segments take their class colour; thing segments take the class colour jittered by the
segment id, so two cars next to each other are told apart while both still read as "car". The colour is a fixed
function of the id: with tracking (panoptic_ros.tracking) the id is the track id, so an object keeps its colour
from frame to frame, and its label shows the id. Ids of any size work (track ids grow over a run).
render_overlay() is what the node publishes on ~/overlay and what `panoptic predict` saves.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np

from .data.categories import CategoryMap

JITTER = 48            # max per-channel shift of an instance colour away from its class colour
MIN_LABEL_AREA = 64    # segments smaller than this (pixels) get no text label
DIRECT_TABLE_IDS = 1 << 16   # ids below this index a colour table directly; larger ids are looked up compactly
_TEXT_COLOR = (255, 255, 255)
_TEXT_BACKGROUND = (0, 0, 0)


def _as_numpy(array, name: str) -> np.ndarray:
    if hasattr(array, "detach"):  # torch tensor, without importing torch here
        array = array.detach().cpu().numpy()
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array or tensor, got {type(array).__name__}")
    return array


def _check_inputs(image_rgb, panoptic) -> tuple[np.ndarray, np.ndarray]:
    image = _as_numpy(image_rgb, "image_rgb")
    labels = _as_numpy(panoptic, "panoptic")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image_rgb: expected an HxWx3 uint8 array, got shape {image.shape} dtype {image.dtype}")
    if labels.ndim != 2 or labels.shape != image.shape[:2]:
        raise ValueError(f"panoptic: expected shape {image.shape[:2]} (the image's HxW), got {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"panoptic: expected integer segment ids, got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ValueError("panoptic: segment ids must be >= 0 (0 = unknown)")
    return image, labels if labels.dtype in (np.int32, np.int64) else labels.astype(np.int64)


def instance_color(class_color: Sequence[int], segment_id: int, isthing: bool) -> tuple[int, int, int]:
    """The display colour of a segment: its class colour (stuff) or the class colour jittered by id (things).

    The jitter is a fixed function of the id, so an instance keeps its colour from frame to frame as long
    as it keeps its id.
    """
    base = tuple(int(v) for v in tuple(class_color)[:3])
    if not isthing:
        return base
    return _jittered(base, int(segment_id))


@lru_cache(maxsize=4096)
def _jittered(base: tuple[int, int, int], segment_id: int) -> tuple[int, int, int]:
    shift = np.random.default_rng(segment_id).integers(-JITTER, JITTER + 1, size=3)
    return tuple(int(v) for v in np.clip(np.asarray(base, dtype=np.int64) + shift, 0, 255))


def segment_color_table(segments: Sequence[dict], categories: CategoryMap, size: int) -> np.ndarray:
    """uint8 [size, 3] RGB colour per segment id (row 0 = unknown = black)."""
    table = np.zeros((max(size, 1), 3), dtype=np.uint8)
    for seg in segments:
        seg_id = int(seg["id"])
        if 0 < seg_id < len(table):
            category = categories.category(int(seg["category_id"]))
            table[seg_id] = instance_color(category.color, seg_id, bool(seg["isthing"]))
    return table


def segment_colors(ids: np.ndarray, segments: Sequence[dict], categories: CategoryMap) -> np.ndarray:
    """HxWx3 uint8 display colour of every pixel of an id map (unknown and unlisted ids black).

    Small ids index a colour table directly; when the largest id is DIRECT_TABLE_IDS or more (long tracking
    runs), the listed ids are looked up in sorted order instead, so memory does not grow with the ids.
    """
    top = max([int(ids.max()) if ids.size else 0] + [int(s["id"]) for s in segments])
    if top < DIRECT_TABLE_IDS:
        return np.take(segment_color_table(segments, categories, top + 1), ids, axis=0)
    listed = sorted({int(s["id"]) for s in segments if int(s["id"]) > 0})
    keys = np.asarray([0] + listed, dtype=np.int64)
    table = np.zeros((len(keys), 3), dtype=np.uint8)
    for seg in segments:
        seg_id = int(seg["id"])
        if seg_id > 0:
            category = categories.category(int(seg["category_id"]))
            table[np.searchsorted(keys, seg_id)] = instance_color(category.color, seg_id, bool(seg["isthing"]))
    pos = np.searchsorted(keys, ids).clip(0, len(keys) - 1)
    pos[keys[pos] != ids] = 0
    return table[pos]


def colorize_panoptic(panoptic, segments: Sequence[dict], categories: CategoryMap) -> np.ndarray:
    """HxWx3 uint8 RGB image with every segment in its display colour; unknown pixels black."""
    labels = _as_numpy(panoptic, "panoptic")
    if labels.ndim != 2:
        raise ValueError(f"panoptic: expected an HxW array, got shape {labels.shape}")
    return segment_colors(labels.astype(np.int64, copy=False), segments, categories)


def _boundaries(labels: np.ndarray, thickness: int) -> np.ndarray:
    """bool HxW: pixels whose right or lower neighbour belongs to another segment (and is not unknown-only)."""
    edge = np.zeros(labels.shape, dtype=bool)
    if labels.shape[1] > 1:
        diff = labels[:, 1:] != labels[:, :-1]
        edge[:, 1:] |= diff
        edge[:, :-1] |= diff
    if labels.shape[0] > 1:
        diff = labels[1:, :] != labels[:-1, :]
        edge[1:, :] |= diff
        edge[:-1, :] |= diff
    edge &= labels > 0
    if thickness > 1:
        kernel = np.ones((thickness, thickness), np.uint8)
        edge = cv2.dilate(edge.astype(np.uint8), kernel) > 0
        edge &= labels > 0
    return edge


def _label_text(seg: dict, categories: CategoryMap) -> str:
    name = categories.category(int(seg["category_id"])).name
    if not seg["isthing"]:
        return name
    track = f" #{int(seg['id'])}" if "track_age" in seg else ""   # tracked: the stable id is worth showing
    return f"{name}{track} {float(seg.get('score', 1.0)):.2f}"


def _draw_labels(canvas: np.ndarray, segments: Sequence[dict], categories: CategoryMap) -> None:
    height, width = canvas.shape[:2]
    scale = max(0.35, min(height, width) / 1000.0)
    thickness = 1 if scale < 0.8 else 2
    for seg in segments:
        if int(seg.get("area", MIN_LABEL_AREA)) < MIN_LABEL_AREA or "bbox" not in seg:
            continue
        text = _label_text(seg, categories)
        (tw, th), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        x, y = int(seg["bbox"][0]), int(seg["bbox"][1])
        x = min(max(x, 0), max(width - tw - 2, 0))
        y = min(max(y, 0), max(height - th - baseline - 2, 0))
        cv2.rectangle(canvas, (x, y), (x + tw + 2, y + th + baseline + 2), _TEXT_BACKGROUND, cv2.FILLED)
        cv2.putText(canvas, text, (x + 1, y + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, _TEXT_COLOR, thickness,
                    cv2.LINE_AA)


def render_overlay(image_rgb, panoptic, segments: Sequence[dict], categories: CategoryMap, alpha: float = 0.5,
                   *, contours: bool = True, labels: bool = True) -> np.ndarray:
    """The image with every segment tinted in its display colour, its contour drawn and a text label
    (class name, plus the score for things). Unknown pixels (0) are left as they are.

    image_rgb: HxWx3 uint8 RGB; panoptic: HxW integer segment ids (numpy or tensor); segments: the
    PanopticResult segment dicts (id, category_id, isthing, score, bbox [x, y, w, h], area);
    alpha: tint strength 0..1. Returns a new HxWx3 uint8 RGB array.
    """
    image, ids = _check_inputs(image_rgb, panoptic)
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha: expected a value in [0, 1], got {alpha}")
    if image.size == 0:
        return image.copy()
    colors = segment_colors(ids, segments, categories)
    out = cv2.addWeighted(image, 1.0 - float(alpha), colors, float(alpha), 0.0)
    cv2.copyTo(image, (ids == 0).view(np.uint8), out)          # unknown pixels stay as they are
    if contours:
        edge = _boundaries(ids, thickness=max(1, round(min(image.shape[:2]) / 400)))
        cv2.copyTo(colors, edge.view(np.uint8), out)
    if labels:
        _draw_labels(out, segments, categories)
    return out
