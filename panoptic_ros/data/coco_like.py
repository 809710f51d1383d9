"""COCO-like panoptic data for throughput measurements (``panoptic bench train``) when COCO itself is not at hand.

What is COCO-like about it (what the data pipeline's cost depends on):

* the 133 categories of COCO panoptic with their real ids (80 things with ids 1..90 with gaps, 53 stuff ids
  92..200), so label lookup and the model's class count are COCO's;
* 640x480 JPEG images (quality 90, textured so they compress like photos, ~100-150 KB) and panoptic PNGs;
* about 20 segments per image: 4-6 stuff regions (Voronoi cells) and the rest thing instances (ellipses and
  polygons from 20 px to a third of the image, overlapping), some crowd segments, and void pixels along
  instance boundaries as in COCO's annotations.

It is not COCO's appearance: do not train on it expecting COCO quality. Generated with a seed, so reproducible.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .coco_panoptic import save_panoptic_json, segments_from_id_map, write_image, write_panoptic_png

# COCO panoptic 2017 category ids (panopticapi's panoptic_coco_categories.json)
COCO_THING_IDS = (list(range(1, 12)) + list(range(13, 26)) + [27, 28] + list(range(31, 45)) + list(range(46, 66))
                  + [67, 70] + list(range(72, 83)) + list(range(84, 91)))
COCO_STUFF_IDS = [92, 93, 95, 100, 107, 109, 112, 118, 119, 122, 125, 128, 130, 133, 138, 141, 144, 145, 147, 148,
                  149, 151, 154, 155, 156, 159, 161, 166, 168, 171, 175, 176, 177, 178, 180, 181, 184, 185, 186, 187,
                  188, 189, 190, 191, 192, 193, 194, 195, 196, 197, 198, 199, 200]


def coco_like_categories() -> list[dict]:
    """The 133 COCO panoptic categories (ids as COCO's; names thing_<id> / stuff_<id>; colours from the id)."""
    rng = np.random.default_rng(133)
    out = []
    for cid, isthing in [(i, 1) for i in COCO_THING_IDS] + [(i, 0) for i in COCO_STUFF_IDS]:
        out.append({"id": cid, "name": f"{'thing' if isthing else 'stuff'}_{cid}", "isthing": isthing,
                    "color": [int(v) for v in rng.integers(0, 256, 3)]})
    return out


def coco_like_scene(rng: np.random.Generator, width: int = 640, height: int = 480, segments: int = 20,
                    crowd_fraction: float = 0.05) -> tuple[np.ndarray, np.ndarray, dict[int, tuple[int, int]]]:
    """One image: (RGB uint8 [H,W,3], segment ids int32 [H,W], id -> (category id, iscrowd))."""
    cats = {c["id"]: c for c in coco_like_categories()}
    ids = np.zeros((height, width), np.int32)
    meta: dict[int, tuple[int, int]] = {}
    n_stuff = int(rng.integers(4, 7))
    # stuff: Voronoi cells of random seeds, computed on a coarse grid and resized (cheap, blocky like COCO's)
    gh, gw = max(1, height // 8), max(1, width // 8)
    seeds = rng.uniform([0, 0], [gw, gh], size=(n_stuff, 2))
    yy, xx = np.mgrid[0:gh, 0:gw]
    d = (xx[None] - seeds[:, 0, None, None]) ** 2 + (yy[None] - seeds[:, 1, None, None]) ** 2
    cells = cv2.resize(d.argmin(0).astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
    stuff_cats = rng.choice(COCO_STUFF_IDS, size=n_stuff, replace=False)
    next_id = 1
    for k in range(n_stuff):
        ids[cells == k] = next_id
        meta[next_id] = (int(stuff_cats[k]), 0)
        next_id += 1
    # things: overlapping ellipses / polygons, outlines left void
    void = np.zeros((height, width), np.uint8)
    for _ in range(max(0, segments - n_stuff)):
        cat = int(rng.choice(COCO_THING_IDS))
        size = float(np.exp(rng.uniform(np.log(20), np.log(min(width, height) / 3))))
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        mask = np.zeros((height, width), np.uint8)
        if rng.random() < 0.5:
            axes = (max(2, int(size / 2)), max(2, int(size / 2 * rng.uniform(0.4, 1.0))))
            cv2.ellipse(mask, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        else:
            angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(5, 10))))
            radii = size / 2 * rng.uniform(0.5, 1.0, len(angles))
            pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1).astype(np.int32)
            cv2.fillPoly(mask, [pts], 1)
        on = mask.astype(bool)
        if not on.any():
            continue
        ids[on] = next_id
        meta[next_id] = (cat, int(rng.random() < crowd_fraction))
        next_id += 1
        cv2.polylines(void, cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0], True, 1, 2)
    ids[void.astype(bool)] = 0
    present = set(np.unique(ids).tolist()) - {0}
    meta = {k: v for k, v in meta.items() if k in present}
    # appearance: category colour + smooth shading + noise (compresses like a photo, not like flat colours)
    lut = np.zeros((next_id, 3), np.float32)
    for sid, (cat, _) in meta.items():
        lut[sid] = cats[cat]["color"]
    image = lut[ids]
    shade = cv2.resize(rng.uniform(0.6, 1.2, (6, 8)).astype(np.float32), (width, height))
    image = image * shade[..., None] + rng.normal(0, 12, (height, width, 3)).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8), ids, meta


def make_coco_like_dataset(root: str | Path, num_images: int, *, width: int = 640, height: int = 480,
                           segments: int = 20, seed: int = 0, progress: bool = False) -> Path:
    """Write num_images COCO-like images in COCO panoptic layout (root/images, root/panoptic, root/panoptic.json);
    returns root."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "panoptic").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    it = range(num_images)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc="coco-like data", unit="img")
    for i in it:
        image, ids, meta = coco_like_scene(rng, width, height, segments)
        stem = f"{i + 1:012d}"
        write_image(root / "images" / f"{stem}.jpg", image, jpeg_quality=90)
        write_panoptic_png(root / "panoptic" / f"{stem}.png", ids)
        segs = segments_from_id_map(ids, lambda sid, meta=meta: meta[sid][0])
        for s in segs:
            s["iscrowd"] = meta[s["id"]][1]
        images.append({"id": i + 1, "file_name": f"{stem}.jpg", "height": height, "width": width})
        annotations.append({"image_id": i + 1, "file_name": f"{stem}.png", "segments_info": segs})
    save_panoptic_json(root / "panoptic.json", annotations, coco_like_categories(), images)
    return root
