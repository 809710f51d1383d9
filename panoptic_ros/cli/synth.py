"""`panoptic synth`: write a synthetic dataset in COCO panoptic layout (tests, demo, default model)."""
from __future__ import annotations

import argparse


def add_parser(subparsers, name: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(name, help="generate a synthetic panoptic dataset (COCO panoptic layout)",
                              description="Write N synthetic scenes (stuff regions + overlapping shapes) to "
                                          "OUT/images/*.jpg, OUT/panoptic/*.png and OUT/panoptic.json; "
                                          "deterministic per seed.")
    p.add_argument("--out", required=True, help="output dataset folder")
    p.add_argument("--num", type=int, default=100, help="number of images (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--width", type=int, default=640, help="image width (default 640)")
    p.add_argument("--height", type=int, default=480, help="image height (default 480)")
    p.add_argument("--overlap", choices=("normal", "heavy"), default="normal",
                   help="heavy: bigger, tighter clusters of same-class objects (default normal)")
    return p


def run(args: argparse.Namespace) -> int:
    import time

    from panoptic_ros.data.synth import make_synthetic_dataset

    start = time.perf_counter()
    out = make_synthetic_dataset(args.out, args.num, args.seed, width=args.width, height=args.height,
                                 overlap=args.overlap, progress=True)
    print(f"wrote {args.num} images to {out} in {time.perf_counter() - start:.1f} s")
    return 0
