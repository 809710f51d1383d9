"""`panoptic synth`: write a synthetic dataset in COCO panoptic layout (tests, demo, default model), or with
``--sequence`` one synthetic video (panning camera, moving objects) with ids consistent across frames."""
from __future__ import annotations

import argparse


def add_parser(subparsers, name: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(name, help="generate a synthetic panoptic dataset or video (COCO panoptic layout)",
                              description="Write N synthetic scenes (stuff regions + overlapping shapes) to "
                                          "OUT/images/*.jpg, OUT/panoptic/*.png and OUT/panoptic.json; "
                                          "deterministic per seed. With --sequence: one video of --frames frames "
                                          "(a camera panning across a wide scene; objects moving, entering, "
                                          "leaving, crossing and occluding each other); every segment has a "
                                          "track_id that names its object in all frames, every image its "
                                          "frame_index, video_id and stamp (seconds).")
    p.add_argument("--out", required=True, help="output dataset folder")
    p.add_argument("--num", type=int, default=100, help="number of images (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--width", type=int, default=640, help="image width (default 640)")
    p.add_argument("--height", type=int, default=480, help="image height (default 480)")
    p.add_argument("--overlap", choices=("normal", "heavy"), default="normal",
                   help="heavy: bigger, tighter clusters of same-class objects (default normal)")
    seq = p.add_argument_group("sequences")
    seq.add_argument("--sequence", action="store_true", help="write one video instead of independent scenes")
    seq.add_argument("--frames", type=int, default=60, help="frames of the video (default 60)")
    seq.add_argument("--fps", type=float, default=10.0, help="frame rate of the stamps (default 10)")
    seq.add_argument("--objects", type=int, help="objects in the scene (default: about 6 per view width)")
    seq.add_argument("--pan", type=float, default=4.0,
                     help="camera speed in pixels per frame at 640x480, scaled with the image (default 4)")
    seq.add_argument("--pan-back", type=float, default=0.0, metavar="SECONDS",
                     help="re-identification: the camera pans away for SECONDS, then back as long, then stays")
    seq.add_argument("--reenter", type=int, default=0, help="re-identification: objects that leave the view, "
                     "stay out 1-3 s and come back (default 0)")
    seq.add_argument("--occluders", type=int, default=0, help="re-identification: wide walls in front of the "
                     "scene, each with two objects passing behind it (hidden 1-3 s) (default 0)")
    seq.add_argument("--lookalike", action="store_true",
                     help="re-identification: every object of a class has the same shape, size and colour")
    return p


def run(args: argparse.Namespace) -> int:
    import time

    from panoptic_ros.data.synth import ReidOptions, make_synthetic_dataset, make_synthetic_sequence

    start = time.perf_counter()
    reid = ReidOptions(args.pan_back, args.reenter, args.occluders, args.lookalike)
    if reid.active and not args.sequence:
        raise ValueError("--pan-back, --reenter, --occluders and --lookalike need --sequence")
    if args.sequence:
        out = make_synthetic_sequence(args.out, args.frames, args.seed, width=args.width, height=args.height,
                                      fps=args.fps, objects=args.objects, pan=args.pan, progress=True, reid=reid)
        print(f"wrote a {args.frames}-frame sequence to {out} in {time.perf_counter() - start:.1f} s")
        return 0
    out = make_synthetic_dataset(args.out, args.num, args.seed, width=args.width, height=args.height,
                                 overlap=args.overlap, progress=True)
    print(f"wrote {args.num} images to {out} in {time.perf_counter() - start:.1f} s")
    return 0
