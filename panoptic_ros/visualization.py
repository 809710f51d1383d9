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
LABEL_GRID = 64        # label placement looks at a segment's box at most this many pixels a side
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


def class_color_table(categories: CategoryMap, size: int) -> np.ndarray:
    """uint8 [size, 3] RGB per class index (what ~/semantic holds); rows past the classes (unknown) black."""
    table = np.zeros((max(size, len(categories)), 3), dtype=np.uint8)
    for index, category in enumerate(categories.categories):
        table[index] = tuple(category.color)[:3]
    return table


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


def _text_style(height: int, width: int) -> tuple[float, int]:
    """Font scale and thickness of the labels for an image size."""
    scale = max(0.35, min(height, width) / 1000.0)
    return scale, 1 if scale < 0.8 else 2


def _label_anchor(ids: np.ndarray, seg: dict) -> tuple[int, int] | None:
    """The pixel of the segment farthest from its border (distance transform over its box, downscaled to at most
    LABEL_GRID px a side so a large stuff region costs little; among near-equal depths the one nearest the
    segment's centre of mass), or None when the box holds none of its pixels."""
    height, width = ids.shape
    x, y, w, h = (int(round(float(v))) for v in seg["bbox"][:4])
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + max(w, 1), width), min(y + max(h, 1), height)
    if x1 <= x0 or y1 <= y0:
        return None
    step = max(1, -(-max(x1 - x0, y1 - y0) // LABEL_GRID))
    small = (ids[y0:y1:step, x0:x1:step] == int(seg["id"])).astype(np.uint8)
    if not small.any():
        return None
    dist = cv2.distanceTransform(cv2.copyMakeBorder(small, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0),
                                 cv2.DIST_L2, 3)[1:-1, 1:-1]
    # a band (sky, road) has a ridge of equally deep points: take the one nearest the segment's centre of mass
    ys, xs = np.nonzero(dist >= 0.9 * float(dist.max()))
    my, mx = np.nonzero(small)
    k = int(np.argmin((ys - my.mean()) ** 2 + (xs - mx.mean()) ** 2))
    return x0 + int(xs[k]) * step + step // 2, y0 + int(ys[k]) * step + step // 2


def label_layout(ids: np.ndarray, segments: Sequence[dict], categories: CategoryMap) -> list[tuple[str, tuple]]:
    """Where each label goes: [(text, (x0, y0, x1, y1))], boxes inside the image and not overlapping each other.

    Each label is centred on the point of its segment farthest from the segment's border; when that spot is taken
    by an earlier label it moves by whole label heights / half widths, preferring spots still on its segment; a
    label with no free spot nearby is left out. Things go first (by score), then stuff (by area): a thing's label
    has few places, a stuff region many.
    """
    height, width = ids.shape
    scale, thickness = _text_style(height, width)
    order = sorted((s for s in segments if int(s.get("area", MIN_LABEL_AREA)) >= MIN_LABEL_AREA and "bbox" in s),
                   key=lambda s: (not s["isthing"], -float(s.get("score", 1.0)) if s["isthing"]
                                  else -int(s.get("area", 0))))
    placed: list[tuple[str, tuple]] = []
    for seg in order:
        anchor = _label_anchor(ids, seg)
        if anchor is None:
            continue
        text = _label_text(seg, categories)
        (tw, th), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        bw, bh = tw + 2, th + baseline + 2
        box = _free_box(ids, int(seg["id"]), anchor, bw, bh, [b for _, b in placed])
        if box is not None:
            placed.append((text, box))
    return placed


def _free_box(ids: np.ndarray, seg_id: int, anchor: tuple[int, int], bw: int, bh: int,
              taken: list[tuple]) -> tuple | None:
    """The first candidate box around anchor that overlaps no taken box: centred on the anchor, then moved by whole
    label heights and half widths; candidates whose centre lies on the segment first."""
    height, width = ids.shape
    moves = [(0, 0)] + [(0, s * k * bh) for k in (1, 2, 3) for s in (-1, 1)] + \
            [(s * bw // 2, d * bh) for s in (-1, 1) for d in (0, -1, 1)]
    boxes = []
    for dx, dy in moves:
        x0 = min(max(anchor[0] + dx - bw // 2, 0), max(width - bw, 0))
        y0 = min(max(anchor[1] + dy - bh // 2, 0), max(height - bh, 0))
        box = (x0, y0, x0 + bw, y0 + bh)
        if any(box[0] < t[2] and t[0] < box[2] and box[1] < t[3] and t[1] < box[3] for t in taken):
            continue
        cx, cy = min((box[0] + box[2]) // 2, width - 1), min((box[1] + box[3]) // 2, height - 1)
        boxes.append((int(ids[cy, cx]) != seg_id, len(boxes), box))
    return min(boxes)[2] if boxes else None


def _draw_labels(canvas: np.ndarray, ids: np.ndarray, segments: Sequence[dict], categories: CategoryMap) -> None:
    scale, thickness = _text_style(*canvas.shape[:2])
    for text, (x0, y0, x1, y1) in label_layout(ids, segments, categories):
        (_, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), _TEXT_BACKGROUND, cv2.FILLED)
        cv2.putText(canvas, text, (x0 + 1, y0 + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, _TEXT_COLOR, thickness,
                    cv2.LINE_AA)


def render_overlay(image_rgb, panoptic, segments: Sequence[dict], categories: CategoryMap, alpha: float = 0.5,
                   *, contours: bool = True, labels: bool = True) -> np.ndarray:
    """The image with every segment tinted in its display colour, its contour drawn and a text label
    (class name, plus the score for things) inside the segment, labels never overlapping (label_layout).
    Unknown pixels (0) are left as they are.

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
        _draw_labels(out, ids, segments, categories)
    return out
