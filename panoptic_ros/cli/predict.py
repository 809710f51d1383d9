"""`panoptic predict --images DIR|FILE|GLOB --out DIR [--model M] [--policy P] [section.name=value ...]`: panoptic
segmentation of images.

Per input image: <stem>_panoptic.png (COCO panoptic PNG, id = R + 256*G + 256^2*B), <stem>.json (segments with
dataset category ids and names, scores, boxes, areas) and <stem>_overlay.jpg (segments tinted on the image,
node.overlay_alpha). Settings: the checkpoint's own, then --config FILE, the overrides and the short flags.
"""
from __future__ import annotations

import argparse

from .options import add_config_options

SECTIONS = ("inference", "node")


def add_parser(subparsers, name: str = "predict") -> argparse.ArgumentParser:
    p = subparsers.add_parser(name, help="panoptic PNG + JSON + overlay for images",
                              description=__doc__.split("\n", 2)[2].strip())
    p.add_argument("--images", required=True, help="an image file, a folder of images or a glob ('dir/*.png')")
    p.add_argument("--out", required=True, help="output folder")
    add_config_options(p, flags=("model", "policy", "runtime", "precision", "device"),
                       flag_help={"model": "model file (.safetensors with its .json, .onnx, OpenVINO .xml); "
                                           "default: the shipped model",
                                  "policy": "merge policy (default: the checkpoint's)"})
    p.add_argument("--no-overlay", action="store_true", help="skip the overlay images")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def output_names(paths) -> list[str]:
    """Unique output stems: the file stem, made unique with its parent folder names on clashes."""
    stems = [p.stem for p in paths]
    out, seen = [], set()
    for p, stem in zip(paths, stems):
        name = stem
        if stems.count(stem) > 1:
            name = "_".join([*p.parent.parts[-2:], stem]).replace("/", "_")
        base, k = name, 1
        while name in seen:
            name, k = f"{base}_{k}", k + 1
        seen.add(name)
        out.append(name)
    return out


def run(args) -> int:
    import time
    from pathlib import Path

    from tqdm import tqdm

    from panoptic_ros.data import read_image, write_image, write_panoptic_png
    from panoptic_ros.engine.prediction_files import dataset_segments, list_images, panoptic_numpy
    from panoptic_ros.engine.train_log import write_json
    from panoptic_ros.visualization import render_overlay

    from .options import pipeline_from_args

    paths = list_images(args.images)
    pipeline, cfg = pipeline_from_args(args, SECTIONS)
    inf, alpha = cfg.inference, cfg.node.overlay_alpha
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path, stem in tqdm(list(zip(paths, output_names(paths))), desc="predict", unit="img",
                           disable=args.no_progress):
        image = read_image(path)
        t0 = time.perf_counter()
        result = pipeline.predict([image], inference=inf)[0]
        ms = 1000 * (time.perf_counter() - t0)
        pan = panoptic_numpy(result)
        segments = dataset_segments(result.segments, pipeline.categories)
        write_panoptic_png(out / f"{stem}_panoptic.png", pan)
        write_json(out / f"{stem}.json", {"image": str(path), "height": int(pan.shape[0]), "width": int(pan.shape[1]),
                                          "policy": inf.merge_policy, "latency_ms": round(ms, 2),
                                          "segments": segments})
        if not args.no_overlay:
            write_image(out / f"{stem}_overlay.jpg",
                        render_overlay(image, pan, result.segments, pipeline.categories, alpha))
    print(f"wrote {len(paths)} prediction(s) to {out}")
    return 0
