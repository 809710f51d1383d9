"""`panoptic predict --model CKPT --images DIR|FILE|GLOB --out DIR [--policy P]`: panoptic segmentation of images.

Per input image: <stem>_panoptic.png (COCO panoptic PNG, id = R + 256*G + 256^2*B), <stem>.json (segments with
dataset category ids and names, scores, boxes, areas) and <stem>_overlay.jpg (segments tinted on the image).
"""
from __future__ import annotations

import argparse


def add_parser(subparsers, name: str = "predict") -> argparse.ArgumentParser:
    from panoptic_ros.config.schema import MERGE_POLICIES

    p = subparsers.add_parser(name, help="panoptic PNG + JSON + overlay for images",
                              description=__doc__.split("\n", 1)[1].strip())
    p.add_argument("--model", help="checkpoint (.safetensors with its .json); default: the shipped model")
    p.add_argument("--images", required=True, help="an image file, a folder of images or a glob ('dir/*.png')")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--policy", choices=MERGE_POLICIES, help="merge policy (default: the checkpoint's)")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N (default: the checkpoint's inference.device)")
    p.add_argument("--score-threshold", type=float, help="override inference.score_threshold")
    p.add_argument("--input-size", type=int, help="override inference.input_size (shorter side)")
    p.add_argument("--alpha", type=float, help="overlay tint strength 0..1 (default: node.overlay_alpha)")
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

    from panoptic_ros.config import check_value
    from panoptic_ros.config.schema import NodeConfig
    from panoptic_ros.data import read_image, write_image, write_panoptic_png
    from panoptic_ros.engine.inference import (dataset_segments, inference_config, list_images, load_model,
                                               panoptic_numpy)
    from panoptic_ros.engine.train_log import write_json

    paths = list_images(args.images)
    alpha = NodeConfig().overlay_alpha if args.alpha is None else args.alpha
    import dataclasses
    check_value("--alpha", {f.name: f for f in dataclasses.fields(NodeConfig)}["overlay_alpha"], alpha)
    model = load_model(args.model, args.device)
    inf = inference_config(model, args.policy, {"score_threshold": args.score_threshold,
                                                "input_size": args.input_size})
    render = None if args.no_overlay else _overlay_renderer()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path, stem in tqdm(list(zip(paths, output_names(paths))), desc="predict", unit="img",
                           disable=args.no_progress):
        image = read_image(path)
        t0 = time.perf_counter()
        result = model.predict([image], inference=inf)[0]
        ms = 1000 * (time.perf_counter() - t0)
        pan = panoptic_numpy(result)
        segments = dataset_segments(result.segments, model.categories)
        write_panoptic_png(out / f"{stem}_panoptic.png", pan)
        write_json(out / f"{stem}.json", {"image": str(path), "height": int(pan.shape[0]), "width": int(pan.shape[1]),
                                          "policy": inf.merge_policy, "latency_ms": round(ms, 2),
                                          "segments": segments})
        if render is not None:
            write_image(out / f"{stem}_overlay.jpg", render(image, pan, result.segments, model.categories, alpha))
    print(f"wrote {len(paths)} prediction(s) to {out}")
    return 0


def _overlay_renderer():
    """panoptic_ros.visualization.render_overlay (same look as the ROS node's ~/overlay)."""
    from panoptic_ros.visualization import render_overlay
    return render_overlay
