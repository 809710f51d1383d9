"""Synthetic panoptic scenes in COCO panoptic layout: the data of the tests, the demo and the default model.

Stuff: sky, road, wall, vegetation as large textured regions (gradients, noise, stripes, bricks, blobs)
in varying layouts (horizon, room with window, street with walls). Things: discs, boxes, triangles and
stars, each with a colour family, per-instance shade, lighting gradient, outline and noise, 20-200 px
at 640x480 (scaled with the image), placed in clusters of the same class that overlap, later objects
occluding earlier ones, so the merge policies of ``fuse`` (highest_confidence / smallest_first /
closest_center) give measurably different results. ``overlap="heavy"`` makes bigger, tighter clusters.
Instances with fewer than ``min_area`` visible pixels become void; a few tight clusters are written
as one ``iscrowd=1`` segment so crowd handling is exercised.

Deterministic per (seed, image index). Segment ids are ``category_id * 1000 + k`` (stuff: k = 0).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .categories import Category, CategoryMap
from .coco_panoptic import save_panoptic_json, segments_from_id_map, write_image, write_panoptic_png

log = logging.getLogger(__name__)

DISC, BOX, TRIANGLE, STAR = 1, 2, 3, 4
SKY, ROAD, WALL, VEGETATION = 5, 6, 7, 8

# base RGB of each class (also the visualisation colour)
THING_COLORS = {DISC: (205, 45, 40), BOX: (40, 75, 205), TRIANGLE: (235, 185, 25), STAR: (170, 45, 190)}
CATEGORIES = CategoryMap([
    Category(DISC, "disc", True, THING_COLORS[DISC]),
    Category(BOX, "box", True, THING_COLORS[BOX]),
    Category(TRIANGLE, "triangle", True, THING_COLORS[TRIANGLE]),
    Category(STAR, "star", True, THING_COLORS[STAR]),
    Category(SKY, "sky", False, (135, 185, 235)),
    Category(ROAD, "road", False, (110, 110, 115)),
    Category(WALL, "wall", False, (170, 105, 80)),
    Category(VEGETATION, "vegetation", False, (55, 130, 50)),
])
OVERLAP_MODES = ("normal", "heavy")


@dataclass(frozen=True)
class _Overlap:
    groups: tuple[int, int]       # clusters per image (inclusive range)
    members: tuple[int, int]      # objects per cluster
    single_prob: float            # chance that a cluster is a single object
    spread: tuple[float, float]   # member distance from the cluster center, in object sizes
    crowd_prob: float             # chance that a cluster of >= 3 becomes one crowd segment


_MODES = {
    "normal": _Overlap(groups=(4, 7), members=(2, 3), single_prob=0.4, spread=(0.3, 0.8), crowd_prob=0.06),
    "heavy": _Overlap(groups=(3, 6), members=(3, 6), single_prob=0.1, spread=(0.15, 0.55), crowd_prob=0.08),
}


def make_synthetic_dataset(out: str | Path, num: int, seed: int = 0, *, width: int = 640, height: int = 480,
                           overlap: str = "normal", min_area: int = 64, progress: bool = False) -> Path:
    """Write ``num`` scenes to ``out`` (images/*.jpg, panoptic/*.png, panoptic.json); return out."""
    if num < 1:
        raise ValueError(f"--num must be at least 1, got {num}")
    if width < 32 or height < 32:
        raise ValueError(f"image size must be at least 32x32, got {width}x{height}")
    if overlap not in OVERLAP_MODES:
        raise ValueError(f"overlap must be one of {', '.join(OVERLAP_MODES)}, got {overlap!r}")
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "panoptic").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    it = range(num)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc="synth", unit="img")
    for i in it:
        image, id_map, segments = render_scene(np.random.default_rng([seed, i]), width, height, overlap, min_area)
        stem = f"{i + 1:06d}"
        write_image(out / "images" / f"{stem}.jpg", image, jpeg_quality=95)
        write_panoptic_png(out / "panoptic" / f"{stem}.png", id_map)
        images.append({"id": i + 1, "file_name": f"{stem}.jpg", "height": height, "width": width})
        annotations.append({"image_id": i + 1, "file_name": f"{stem}.png", "segments_info": segments})
    info = {"description": "panoptic_ros synthetic scenes", "seed": seed, "num": num, "overlap": overlap,
            "width": width, "height": height}
    save_panoptic_json(out / "panoptic.json", annotations, CATEGORIES, images, info=info)
    log.info("wrote %d synthetic images to %s", num, out)
    return out



def _listed_segments(id_map: np.ndarray, min_area: int) -> list[dict]:
    """Segments of an id map (category = id // 1000); instances mostly hidden (fewer than min_area pixels) become
    void in id_map (changed in place) and are not listed."""
    segments = segments_from_id_map(id_map, lambda sid: sid // 1000)
    small = [s["id"] for s in segments if s["id"] % 1000 != 0 and s["area"] < min_area]
    if small:
        id_map[np.isin(id_map, small)] = 0
        segments = [s for s in segments if s["id"] not in small]
    return segments

def render_scene(rng: np.random.Generator, width: int = 640, height: int = 480, overlap: str = "normal",
                 min_area: int = 64) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """One scene: (image uint8 [H,W,3] RGB, segment ids int32 [H,W], segments_info)."""
    mode = _MODES[overlap]
    scale = min(width / 640.0, height / 480.0)
    stuff = _stuff_layout(rng, height, width)
    img = _stuff_texture(rng, stuff, scale)
    id_map = stuff * 1000
    crowd_ids: set[int] = set()
    for _cat, sid, pts, color, size in _things(rng, width, height, scale, mode, crowd_ids):
        _draw_thing(rng, img, id_map, pts, sid, color, size)
    noise = rng.standard_normal(img.shape[:2] + (1,), dtype=np.float32)  # luminance grain
    noise *= rng.uniform(3.0, 7.0)
    img += noise
    image = np.clip(img, 0, 255, out=img).astype(np.uint8)

    segments = _listed_segments(id_map, min_area)
    for s in segments:
        s["iscrowd"] = int(s["id"] in crowd_ids)
    return image, id_map, segments


# ----------------------------------------------------------------------------------------------- stuff
def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Low-frequency noise [h,w] with unit-ish amplitude (bicubic upsampling of a coarse grid)."""
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    return cv2.resize(rng.standard_normal((gh, gw)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)


def _wave(rng: np.random.Generator, n: int, knots: int = 6) -> np.ndarray:
    """A smooth 1-D curve of length n in [-1, 1]."""
    return np.interp(np.arange(n), np.linspace(0, n - 1, knots), rng.uniform(-1, 1, knots)).astype(np.float32)


def _stuff_layout(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Stuff category id per pixel [h,w] int32; every region is large (usually > 4096 px at 640x480)."""
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    lab = np.empty((h, w), dtype=np.int32)
    kind = rng.choice(3, p=[0.45, 0.3, 0.25])
    if kind == 0:  # outdoor: sky over road, a hedge on the horizon, sometimes a wall block
        horizon = rng.uniform(0.3, 0.55) * h + rng.uniform(-0.15, 0.15) * (xx - w / 2)
        lab[:] = ROAD
        lab[np.broadcast_to(yy < horizon, (h, w))] = SKY
        thick = rng.uniform(0.08, 0.18) * h + _wave(rng, w)[None, :] * 0.04 * h
        x0 = 0.0 if rng.random() < 0.5 else rng.uniform(0, 0.5) * w
        x1 = min(float(w), x0 + rng.uniform(0.4, 1.0) * w)
        veg = (yy >= horizon - thick) & (yy < horizon + 0.03 * h) & (xx >= x0) & (xx < x1)
        lab[veg] = VEGETATION
        if rng.random() < 0.5:
            ww = rng.uniform(0.2, 0.4) * w
            top = rng.uniform(0.05, 0.3) * h
            bottom = float(horizon.max()) + rng.uniform(0.05, 0.15) * h
            cols = (xx < ww) if rng.random() < 0.5 else (xx >= w - ww)
            lab[(yy >= top) & (yy < bottom) & cols] = WALL
    elif kind == 1:  # room: wall over floor (road class), a window with sky, a plant
        floor = rng.uniform(0.55, 0.75) * h + rng.uniform(-0.05, 0.05) * (xx - w / 2)
        lab[:] = WALL
        lab[np.broadcast_to(yy >= floor, (h, w))] = ROAD
        wx0 = rng.uniform(0.05, 0.6) * w
        wy0 = rng.uniform(0.06, 0.18) * h
        lab[int(wy0):int(wy0 + rng.uniform(0.22, 0.32) * h), int(wx0):int(wx0 + rng.uniform(0.2, 0.35) * w)] = SKY
        cx, rx, ry = rng.uniform(0.1, 0.9) * w, rng.uniform(0.08, 0.15) * w, rng.uniform(0.15, 0.25) * h
        cy = float(floor.mean())
        r = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
        lab[r < 1.0 + 0.25 * _smooth_noise(rng, h, w, 0.05 * w + 4)] = VEGETATION
    else:  # street: sky, walls on both sides converging to a vanishing point, road, trees
        vx, vy = rng.uniform(0.35, 0.65) * w, rng.uniform(0.3, 0.45) * h
        lab[:] = ROAD
        lab[np.broadcast_to(yy < vy, (h, w))] = SKY
        left = np.array([[0, 0], [vx - 0.08 * w, vy - 0.1 * h], [vx - 0.08 * w, vy + 0.02 * h], [0, 0.85 * h]])
        right = np.array([[w, 0], [vx + 0.08 * w, vy - 0.1 * h], [vx + 0.08 * w, vy + 0.02 * h], [w, 0.85 * h]])
        left[0, 1] = rng.uniform(0.0, 0.15) * h
        right[0, 1] = rng.uniform(0.0, 0.15) * h
        cv2.fillPoly(lab, [left.astype(np.int32), right.astype(np.int32)], WALL)
        tree_y = vy - rng.uniform(0.08, 0.14) * h
        half_width = 0.12 * w + 0.03 * w * _wave(rng, w)[None, :]
        canopy = (np.abs(xx - vx) < half_width) & (yy >= tree_y) & (yy < vy + 0.02 * h)
        lab[canopy] = VEGETATION
    return lab


def _stuff_texture(rng: np.random.Generator, lab: np.ndarray, scale: float) -> np.ndarray:
    """The background image [h,w,3] float32 painted per stuff class (at half resolution for speed:
    the per-pixel noise added later gives the fine grain)."""
    f = 2 if min(lab.shape) >= 200 else 1
    if f == 1:
        return _paint_stuff(rng, lab, scale)
    small = _paint_stuff(rng, np.ascontiguousarray(lab[::f, ::f]), scale / f)
    return cv2.resize(small, (lab.shape[1], lab.shape[0]), interpolation=cv2.INTER_LINEAR)


def _paint_stuff(rng: np.random.Generator, lab: np.ndarray, scale: float) -> np.ndarray:
    h, w = lab.shape
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    img = np.empty((h, w, 3), dtype=np.float32)
    present = set(np.unique(lab).tolist())
    jitter = lambda: rng.uniform(-15, 15, 3).astype(np.float32)  # noqa: E731
    if SKY in present:
        top = np.array([105, 155, 225], np.float32) + jitter()
        bottom = np.array([195, 215, 240], np.float32) + jitter()
        t = (yy / h)[..., None]
        tex = top * (1 - t) + bottom * t
        clouds = np.clip(_smooth_noise(rng, h, w, 60 * scale + 4) - 0.3, 0, 1)[..., None]
        tex = tex * (1 - 0.6 * clouds) + 245 * 0.6 * clouds
        np.copyto(img, tex, where=(lab == SKY)[..., None])
    if ROAD in present:
        g = rng.uniform(85, 125)
        tex = g + 20 * (yy / h) + 7 * _smooth_noise(rng, h, w, 10 * scale + 2)
        period = max(6, int(28 * scale))
        cx = rng.uniform(0.3, 0.7) * w
        dash = ((yy // period) % 2 == 0) & (np.abs(xx - cx - 0.2 * (yy - h)) < max(1.5, 4 * scale))
        tex = np.where(dash, np.float32(225), tex)[..., None] + np.array([0, 0, 4], np.float32)
        np.copyto(img, tex, where=(lab == ROAD)[..., None])
    if WALL in present:
        base = np.array([175, 105, 80], np.float32) + jitter()
        bh = max(4, int(rng.integers(12, 20) * scale))
        bw = int(bh * rng.uniform(2.2, 3.0))
        row = (yy // bh).astype(np.int64)
        shifted = xx + (row % 2) * (bw // 2)
        brick = row * 7919 + (shifted // bw).astype(np.int64)
        shade = 0.88 + 0.24 * (((brick * 7907) % 1009) / 1009.0).astype(np.float32)
        tex = base * shade[..., None]
        mortar = ((yy % bh) < max(1, bh // 7)) | ((shifted % bw) < max(1, bh // 7))
        np.copyto(tex, np.float32(205), where=mortar[..., None])
        np.copyto(img, tex, where=(lab == WALL)[..., None])
    if VEGETATION in present:
        base = np.array([55, 130, 50], np.float32) + jitter()
        blobs = _smooth_noise(rng, h, w, 6 * scale + 2)
        big = _smooth_noise(rng, h, w, 25 * scale + 3)
        tex = base + (22 * blobs + 14 * big)[..., None] * np.array([0.6, 1.0, 0.5], np.float32)
        np.copyto(img, tex, where=(lab == VEGETATION)[..., None])
    return img


# ----------------------------------------------------------------------------------------------- things
def _polygon(rng: np.random.Generator, cat: int, cx: float, cy: float, size: float) -> np.ndarray:
    """Outline [K,2] of a thing of the given class centered at (cx, cy), about `size` pixels across."""
    a0 = rng.uniform(0, 2 * np.pi)
    r = size / 2
    if cat == DISC:
        t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
        pts = np.stack([np.cos(t), np.sin(t)], 1) * r
    elif cat == BOX:
        aspect = rng.uniform(0.6, 1.6)
        hw, hh = r * np.sqrt(aspect), r / np.sqrt(aspect)
        pts = np.array([[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]]) * 0.85
    elif cat == TRIANGLE:
        t = a0 + np.array([0, 2, 4]) * np.pi / 3 + rng.uniform(-0.15, 0.15, 3)
        return np.stack([cx + np.cos(t) * r * 1.1, cy + np.sin(t) * r * 1.1], 1)
    else:  # STAR
        t = a0 + np.arange(10) * np.pi / 5
        rad = np.where(np.arange(10) % 2 == 0, r * 1.1, r * 0.45)
        return np.stack([cx + np.cos(t) * rad, cy + np.sin(t) * rad], 1)
    c, s = np.cos(a0), np.sin(a0)
    return pts @ np.array([[c, s], [-s, c]]) + np.array([cx, cy])


def _things(rng: np.random.Generator, w: int, h: int, scale: float, mode: _Overlap, crowd_ids: set[int]):
    """Yield (category, segment id, polygon, colour, size) in drawing order (later occludes earlier)."""
    objects = []
    counters = {c: 0 for c in THING_COLORS}
    lo, hi = max(12.0, 20 * scale), max(24.0, 200 * scale)
    for _ in range(int(rng.integers(mode.groups[0], mode.groups[1] + 1))):
        cat = int(rng.choice(list(THING_COLORS)))
        n = 1 if rng.random() < mode.single_prob else int(rng.integers(mode.members[0], mode.members[1] + 1))
        base = float(np.exp(rng.uniform(np.log(lo), np.log(hi * 0.7))))
        gx, gy = rng.uniform(0.05, 0.95) * w, rng.uniform(0.1, 0.95) * h
        crowd = n >= 3 and rng.random() < mode.crowd_prob
        if crowd:
            counters[cat] += 1
            crowd_sid = cat * 1000 + counters[cat]
            crowd_ids.add(crowd_sid)
        group = []
        for _m in range(n):
            size = float(np.clip(base * rng.uniform(0.6, 1.5), lo, hi))
            d = rng.uniform(*mode.spread) * size if n > 1 else 0.0
            a = rng.uniform(0, 2 * np.pi)
            cx, cy = gx + d * np.cos(a), gy + d * np.sin(a)
            if crowd:
                sid = crowd_sid
            else:
                counters[cat] += 1
                sid = cat * 1000 + counters[cat]
            shade = rng.uniform(0.72, 1.12)
            color = np.clip(np.array(THING_COLORS[cat], np.float32) * shade + rng.uniform(-18, 18, 3), 0, 255)
            group.append((cat, sid, _polygon(rng, cat, cx, cy, size), color.astype(np.float32), size))
        objects.append(group)
    # clusters stay in one piece of the drawing order, clusters are interleaved at random
    for i in rng.permutation(len(objects)):
        yield from objects[i]


def _draw_thing(rng: np.random.Generator, img: np.ndarray, id_map: np.ndarray, pts: np.ndarray, sid: int,
                color: np.ndarray, size: float) -> None:
    """Paint one object (shaded fill + darker outline) into img and its id into id_map, in its box only."""
    h, w = id_map.shape
    x0, y0 = np.floor(pts.min(0)).astype(int)
    x1, y1 = np.ceil(pts.max(0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return
    local = np.round(pts - [x0, y0]).astype(np.int32)
    mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    cv2.fillPoly(mask, [local], 1)
    m = mask.astype(bool)
    if not m.any():
        return
    py = np.arange(y1 - y0, dtype=np.float32)[:, None]
    px = np.arange(x1 - x0, dtype=np.float32)[None, :]
    a = rng.uniform(0, 2 * np.pi)
    light = ((px - px.mean()) * np.cos(a) + (py - py.mean()) * np.sin(a)) / max(size, 1.0) * 40.0
    tex = color[None, None, :] + light[..., None]
    cv2.polylines(tex, [local], True, (color * 0.55).tolist(), max(1, int(round(size / 28))))
    img[y0:y1, x0:x1][m] = tex[m]
    id_map[y0:y1, x0:x1][m] = sid


# ----------------------------------------------------------------------------------------------- sequences
# Synthetic videos for tracking (`panoptic synth --sequence`): a camera pans across a scene wider than the image;
# objects move at constant velocity (some slowly rotating), enter and leave the view, cross each other (same-class
# pairs on converging paths) and occlude each other (fixed depth order; large "occluders" pass in front).
# Ground truth: a thing keeps its segment id (category_id * 1000 + k) in every frame; each segment also lists it
# as "track_id", each image its "frame_index", "video_id" and "stamp" (seconds). Nothing above is changed by this,
# so the single-image scenes stay byte-identical per seed.
@dataclass(frozen=True)
class SequenceFrame:
    """One rendered frame: image uint8 [H,W,3] RGB, ids int32 [H,W], COCO segments (with track_id), stamp (s)."""
    index: int
    stamp: float
    image: np.ndarray
    id_map: np.ndarray
    segments: list


@dataclass
class _Mover:
    cat: int
    sid: int
    shape: np.ndarray      # [K,2] outline around (0, 0)
    size: float
    color: np.ndarray
    start: np.ndarray      # world x, y at frame 0
    velocity: np.ndarray   # world pixels per frame
    spin: float            # radians per frame
    depth: float           # drawing order: larger is in front
    light_seed: int
    path: np.ndarray | None = None   # [frames, 2] world positions when not start + velocity x frame (re-entering)


def _movers(rng: np.random.Generator, world_w: int, h: int, frames: int, scale: float, count: int) -> list[_Mover]:
    """Objects of a sequence: wanderers, same-class crossing pairs, objects entering from outside, occluders."""
    lo, hi = max(12.0, 20 * scale), max(24.0, 160 * scale)
    counters = {c: 0 for c in THING_COLORS}
    out: list[_Mover] = []

    def add(cat, start, velocity, size=None, depth=None):
        counters[cat] += 1
        size = float(size if size is not None else np.exp(rng.uniform(np.log(lo), np.log(hi * 0.6))))
        shape = _polygon(rng, cat, 0.0, 0.0, size)
        color = np.clip(np.array(THING_COLORS[cat], np.float32) * rng.uniform(0.72, 1.12) + rng.uniform(-18, 18, 3),
                        0, 255).astype(np.float32)
        out.append(_Mover(cat, cat * 1000 + counters[cat], shape, size, color, np.asarray(start, np.float64),
                          np.asarray(velocity, np.float64), float(rng.uniform(-0.02, 0.02)),
                          float(rng.uniform(0, 1) if depth is None else depth), int(rng.integers(2**31))))

    speed = 3.0 * scale
    while len(out) < count:
        kind = rng.choice(4, p=[0.5, 0.2, 0.2, 0.1])
        cat = int(rng.choice(list(THING_COLORS)))
        if kind == 0:    # wanderer
            add(cat, (rng.uniform(0, world_w), rng.uniform(0.1, 0.95) * h), rng.uniform(-speed, speed, 2))
        elif kind == 1 and len(out) + 2 <= count:   # two objects of one class crossing at a point and frame
            meet = np.array([rng.uniform(0.1, 0.9) * world_w, rng.uniform(0.25, 0.8) * h])
            at = rng.uniform(0.3, 0.7) * frames
            a = rng.uniform(0, np.pi)
            for sign in (1, -1):
                v = sign * speed * rng.uniform(0.6, 1.2) * np.array([np.cos(a), np.sin(a) * 0.5])
                add(cat, meet - v * at, v)
        elif kind == 2:  # enters from above or below the view
            top = rng.random() < 0.5
            y0 = -0.15 * h if top else 1.15 * h
            add(cat, (rng.uniform(0, world_w), y0), (rng.uniform(-1, 1) * speed,
                                                    (1 if top else -1) * speed * rng.uniform(0.5, 1.0)))
        elif kind == 3:  # a large occluder passing in front of the others
            add(cat, (rng.uniform(0, world_w), rng.uniform(0.3, 0.8) * h), (rng.choice([-1, 1]) * speed * 1.5, 0.0),
                size=hi, depth=1.5)
    return out


@dataclass(frozen=True)
class ReidOptions:
    """What re-identification needs in a synthetic video (all off by default: the video is then unchanged).

    pan_back: seconds the camera pans away (at ``pan``) before it pans back over the same time, then stays;
    reenter: objects that leave the view, stay out 1-3 s and come back; occluders: wide stationary walls in front of
    the objects, each with two objects passing behind it (hidden 1-3 s); lookalike: every object of a class has
    the same shape, size and colour (appearance alone cannot tell them apart).
    """
    pan_back: float = 0.0
    reenter: int = 0
    occluders: int = 0
    lookalike: bool = False

    @property
    def active(self) -> bool:
        return self.pan_back > 0 or self.reenter > 0 or self.occluders > 0 or self.lookalike


def render_sequence(seed: int, frames: int, width: int = 640, height: int = 480, *, fps: float = 10.0,
                    objects: int | None = None, pan: float = 4.0, min_area: int = 64,
                    reid: ReidOptions | None = None):
    """The SequenceFrames of one synthetic video, as an iterator (deterministic per seed and size).

    pan: camera speed in pixels per frame at 640x480 (scaled with the image); the scene is as wide as the view
    plus the whole pan. objects: things in the scene (default: about 6 per view width). reid: ReidOptions.
    """
    _check_sequence_args(frames, width, height, fps, objects)
    reid = reid or ReidOptions()
    if reid.pan_back < 0 or reid.reenter < 0 or reid.occluders < 0:
        raise ValueError("--pan-back, --reenter and --occluders must be >= 0")
    return _sequence_frames(seed, frames, width, height, fps, objects, pan, min_area, reid)


def _check_sequence_args(frames: int, width: int, height: int, fps: float, objects: int | None) -> None:
    if frames < 1:
        raise ValueError(f"--frames must be at least 1, got {frames}")
    if width < 32 or height < 32:
        raise ValueError(f"image size must be at least 32x32, got {width}x{height}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if objects is not None and objects < 0:
        raise ValueError(f"objects must be >= 0, got {objects}")


def _camera_path(frames: int, step: float, width: int, fps: float, pan_back: float) -> tuple[np.ndarray, int]:
    """Left edge of the view in the world for each frame, and the world width. Eased in and out: across the whole
    pan, or with pan_back away for pan_back seconds, back in as long, then still."""
    i = np.arange(frames, dtype=np.float64)
    if pan_back <= 0:
        world_w = width + int(round(step * (frames - 1)))
        return np.round((world_w - width) * (0.5 - 0.5 * np.cos(np.pi * i / max(frames - 1, 1)))).astype(int), world_w
    away = max(1, int(round(pan_back * fps)))
    world_w = width + int(round(step * away))
    phase = np.clip(i / away, 0, 2)                   # 0..1 away, 1..2 back
    x = (world_w - width) * (0.5 - 0.5 * np.cos(np.pi * phase))
    return np.round(x).astype(int), world_w


def _sequence_frames(seed: int, frames: int, width: int, height: int, fps: float, objects: int | None, pan: float,
                     min_area: int, reid: ReidOptions):
    rng = np.random.default_rng([seed, 900])
    scale = min(width / 640.0, height / 480.0)
    step = max(0.0, float(pan)) * scale
    cam_x, world_w = _camera_path(frames, step, width, fps, reid.pan_back)
    stuff = _stuff_layout(rng, height, world_w)
    texture = _stuff_texture(rng, stuff, scale)
    count = int(objects) if objects is not None else max(4, int(round(6 * world_w / width)))
    movers = _movers(rng, world_w, height, frames, scale, count)
    walls: list[tuple[int, int]] = []
    if reid.active:
        extra = np.random.default_rng([seed, 902])
        walls = _reid_movers(extra, movers, reid, cam_x, width, height, frames, fps, scale)
        stuff, texture = stuff.copy(), texture.copy()
        for x0w, x1w in walls:
            stuff[:, x0w:x1w] = WALL
            texture[:, x0w:x1w] = _wall_band(extra, height, x1w - x0w)
    movers = sorted(movers, key=lambda m: m.depth)
    for i in range(frames):
        x0 = int(cam_x[i])
        img = texture[:, x0:x0 + width].copy()
        id_map = stuff[:, x0:x0 + width] * 1000
        for m in movers:
            a = m.spin * i
            c, s = np.cos(a), np.sin(a)
            where = m.path[i] if m.path is not None else m.start + m.velocity * i
            pts = m.shape @ np.array([[c, s], [-s, c]]) + where - [x0, 0]
            _draw_thing(np.random.default_rng(m.light_seed), img, id_map, pts, m.sid, m.color, m.size)
        for x0w, x1w in walls:              # walls stand in front of every object
            a, b = max(x0w - x0, 0), min(x1w - x0, width)
            if a < b:
                img[:, a:b] = texture[:, x0 + a:x0 + b]
                id_map[:, a:b] = WALL * 1000
        frame_rng = np.random.default_rng([seed, 901, i])
        img += frame_rng.standard_normal(img.shape[:2] + (1,), dtype=np.float32) * 4.0
        image = np.clip(img, 0, 255, out=img).astype(np.uint8)
        segments = _listed_segments(id_map, min_area)
        for s in segments:
            s["track_id"] = s["id"]
        yield SequenceFrame(i, i / fps, image, id_map.astype(np.int32), segments)


def _reid_movers(rng: np.random.Generator, movers: list[_Mover], opts: ReidOptions, cam_x: np.ndarray, width: int,
                 height: int, frames: int, fps: float, scale: float) -> list[tuple[int, int]]:
    """Add the re-entering objects and the passers behind walls to ``movers`` (look-alikes: unify each class);
    returns the walls as world x ranges."""
    speed = 2.5 * scale                                           # pixels per frame
    lo, hi = max(12.0, 24 * scale), max(24.0, 70 * scale)
    counters = {c: max([m.sid % 1000 for m in movers if m.cat == c], default=0) for c in THING_COLORS}

    def add(cat, path, size):
        counters[cat] += 1
        color = np.clip(np.array(THING_COLORS[cat], np.float32) * rng.uniform(0.72, 1.12) + rng.uniform(-18, 18, 3),
                        0, 255).astype(np.float32)
        movers.append(_Mover(cat, cat * 1000 + counters[cat], _polygon(rng, cat, 0.0, 0.0, size), size, color,
                             path[0], np.zeros(2), 0.0, float(rng.uniform(0, 1)), int(rng.integers(2**31)), path))

    for _ in range(opts.reenter):   # leaves the view at one side, stays out 1-3 s, comes back
        cat, size = int(rng.choice(list(THING_COLORS))), float(rng.uniform(lo, hi))
        side = 1 if rng.random() < 0.5 else -1
        out_frames = int(round(rng.uniform(1.0, 3.0) * fps))
        start_f = int(rng.integers(0, max(1, frames // 3)))
        y = rng.uniform(0.25, 0.8) * height
        path = np.zeros((frames, 2))
        inside = 0.5 * rng.uniform(0.1, 0.3) * width              # starts this far inside the edge it leaves by
        x = cam_x[start_f] + (width - inside if side > 0 else inside)
        v, outside = side * speed * rng.uniform(1.0, 1.6), 0
        for f in range(frames):
            view_x = x - cam_x[f]
            if view_x < -size / 2 or view_x > width + size / 2:
                outside += 1
                if outside == out_frames // 2:
                    v = -v                        # turn around out of view: back in after about out_frames
            else:
                outside = 0
            path[f] = (x, y)
            x += v if f >= start_f else 0.0
        add(cat, path, size)
    walls = []
    for k in range(opts.occluders):   # a wall in the view's middle part; two objects pass behind it
        center = cam_x[0] + width * (k + 1) / (opts.occluders + 1)
        size = float(rng.uniform(lo, hi))
        hidden = rng.uniform(1.0, 3.0)                            # seconds fully behind it at the passers' speed
        wall_w = int(round(size + speed * fps * hidden))
        x0w = int(round(center - wall_w / 2))
        walls.append((x0w, x0w + wall_w))
        for sign in (1, -1):
            cat = int(rng.choice(list(THING_COLORS)))
            y = rng.uniform(0.25, 0.8) * height
            reach = rng.uniform(0.3, 0.7) * frames                # frame at which it is behind the wall's middle
            v = sign * speed
            xs = center + v * (np.arange(frames) - reach)
            add(cat, np.stack([xs, np.full(frames, y)], 1), size)
    if opts.lookalike:                # every object of a class: the first one's shape, size and colours
        first: dict[int, _Mover] = {}
        for m in sorted(movers, key=lambda m: m.depth > 1):
            f = first.setdefault(m.cat, m)
            m.color, m.light_seed = f.color, f.light_seed
            if m.depth <= 1 and f.depth <= 1:      # large occluders keep their size
                m.shape, m.size, m.spin = f.shape, f.size, f.spin
    return walls


def _wall_band(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """float32 [height, width, 3] texture of a wall standing in front of the scene (bricks, shaded)."""
    base = np.array((170, 105, 80), np.float32) * rng.uniform(0.8, 1.1)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    mortar = ((yy % 16) < 2) | (((xx + 12 * ((yy // 16) % 2)) % 24) < 2)
    tex = np.broadcast_to(base, (height, width, 3)).copy()
    tex[mortar] *= 0.7
    return tex * (0.9 + 0.2 * (xx / max(width, 1)))[..., None]


def make_synthetic_sequence(out: str | Path, frames: int, seed: int = 0, *, width: int = 640, height: int = 480,
                            fps: float = 10.0, objects: int | None = None, pan: float = 4.0, min_area: int = 64,
                            progress: bool = False, reid: ReidOptions | None = None) -> Path:
    """Write one synthetic video to ``out`` in COCO panoptic layout (frames 000001.jpg, ...); return out.

    Ground truth ids are consistent across frames: each segment's ``track_id`` (= its id) names the object in
    every frame; each image has ``frame_index`` (0-based), ``video_id`` and ``stamp`` (seconds, frame / fps).
    """
    _check_sequence_args(frames, width, height, fps, objects)
    reid = reid or ReidOptions()
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "panoptic").mkdir(parents=True, exist_ok=True)
    video_id = f"synth-{seed}"
    images, annotations = [], []
    it = render_sequence(seed, frames, width, height, fps=fps, objects=objects, pan=pan, min_area=min_area, reid=reid)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, total=frames, desc="synth sequence", unit="frame")
    for f in it:
        stem = f"{f.index + 1:06d}"
        write_image(out / "images" / f"{stem}.jpg", f.image, jpeg_quality=95)
        write_panoptic_png(out / "panoptic" / f"{stem}.png", f.id_map)
        images.append({"id": f.index + 1, "file_name": f"{stem}.jpg", "height": height, "width": width,
                       "frame_index": f.index, "video_id": video_id, "stamp": round(f.stamp, 6)})
        annotations.append({"image_id": f.index + 1, "file_name": f"{stem}.png", "segments_info": f.segments})
    info = {"description": "panoptic_ros synthetic sequence", "seed": seed, "sequence": True, "frames": frames,
            "fps": fps, "pan": pan, "objects": objects, "video_id": video_id, "width": width, "height": height,
            "track_id_field": "segments_info[].track_id: the object's id, the same in every frame"}
    if reid.active:
        info.update(pan_back=reid.pan_back, reenter=reid.reenter, occluders=reid.occluders, lookalike=reid.lookalike)
    save_panoptic_json(out / "panoptic.json", annotations, CATEGORIES, images, info=info)
    log.info("wrote a %d-frame synthetic sequence to %s", frames, out)
    return out
