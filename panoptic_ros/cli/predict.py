"""`panoptic predict --images DIR|FILE|GLOB|VIDEO --out DIR [--model M] [--policy P] [section.name=value ...]`:
panoptic segmentation of images, image sequences and videos.

Per input frame: <stem>_panoptic.png (COCO panoptic PNG, id = R + 256*G + 256^2*B), <stem>.json (segments with
dataset category ids and names, scores, boxes, areas) and <stem>_overlay.jpg (segments tinted on the image,
node.overlay_alpha); summary.json lists the frames written and skipped. A video file is a sequence; a folder or glob
of images is one only with --sequence or when its dataset's panoptic.json describes video frames (frame_index /
video_id, as `panoptic synth --sequence` writes): otherwise its images are separate photos with ids 1..K each. On
a sequence, with tracking (inference.tracking, --tracking/--no-tracking), segment ids are stable across frames
(stuff: class channel + 1, things: track ids above 1000, see docs/tracking.md), thing segments carry track_age and
first_seen, and an object keeps its overlay colour. Frames declaring more than
inference.max_input_pixels pixels are skipped (PNG / JPEG size read from the header) and counted. Settings: the
checkpoint's own, then --config FILE, the overrides and the short flags.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .options import add_config_options

SECTIONS = ("inference", "node")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg")
DEFAULT_FPS = 10.0

log = logging.getLogger(__name__)


def add_parser(subparsers, name: str = "predict") -> argparse.ArgumentParser:
    p = subparsers.add_parser(name, help="panoptic PNG + JSON + overlay for images, sequences and videos",
                              description=__doc__.split("\n", 3)[3].strip())
    p.add_argument("--images", required=True, help="an image file, a folder of images, a glob ('dir/*.png') or a "
                                                    f"video file ({', '.join(VIDEO_SUFFIXES)})")
    p.add_argument("--out", required=True, help="output folder")
    add_config_options(p, flags=("model", "policy", "runtime", "precision", "device", "threads"),
                       flag_help={"model": "model file (.safetensors with its .json, .onnx, OpenVINO .xml); "
                                           "default: the shipped model",
                                  "policy": "merge policy (default: the checkpoint's)"})
    p.add_argument("--sequence", action=argparse.BooleanOptionalAction, default=None,
                   help="the images are the frames of one video, in name order (default: only a video file or a "
                        "folder whose panoptic.json has frame metadata; other folders are separate photos)")
    p.add_argument("--tracking", action=argparse.BooleanOptionalAction, default=None,
                   help="stable ids across the frames of a sequence (default: inference.tracking)")
    p.add_argument("--fps", type=float, help="frame rate of an image sequence, for the tracker's stamps "
                                             f"(default: a video's own rate, else {DEFAULT_FPS:g})")
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


def is_video(spec: str | Path) -> bool:
    p = Path(spec)
    return p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES


def image_frames(paths: list[Path], fps: float, max_pixels: int):
    """Yield (stem, source, stamp, image or None, skip reason) for image files; sizes are checked from the
    PNG / JPEG header before decoding (other formats after decoding)."""
    import cv2
    import numpy as np

    from panoptic_ros.data.image_limits import ImageTooLarge, UnreadableImageHeader, check_encoded, check_pixels

    for i, (path, stem) in enumerate(zip(paths, output_names(paths))):
        data = path.read_bytes()
        try:
            check_encoded(data, max_pixels, what=str(path))
        except ImageTooLarge as exc:
            yield stem, str(path), i / fps, None, str(exc)
            continue
        except UnreadableImageHeader:
            pass  # BMP, TIFF, WebP, ...: checked after decoding below
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"{path}: not a readable image (corrupt or unsupported format)")
        try:
            check_pixels(*bgr.shape[:2], max_pixels, what=str(path))
        except ImageTooLarge as exc:
            yield stem, str(path), i / fps, None, str(exc)
            continue
        yield stem, str(path), i / fps, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), ""


def video_frames(path: Path, fps: float | None, max_pixels: int):
    """Yield (stem, source, stamp, image or None, skip reason) for the frames of a video file (OpenCV)."""
    import cv2

    from panoptic_ros.data.image_limits import ImageTooLarge, check_pixels

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ValueError(f"{path}: not a readable video (OpenCV could not open it)")
    try:
        rate = fps or cap.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS
        height, width = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        try:
            check_pixels(height, width, max_pixels, what=f"{path} frames")
            too_large = ""
        except ImageTooLarge as exc:
            too_large = str(exc)
        i = 0
        while True:
            if too_large:
                if not cap.grab():
                    break
                yield f"{path.stem}_{i:06d}", f"{path}#{i}", i / rate, None, too_large
            else:
                ok, bgr = cap.read()
                if not ok:
                    break
                yield f"{path.stem}_{i:06d}", f"{path}#{i}", i / rate, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), ""
            i += 1
    finally:
        cap.release()


def is_sequence(spec: str | Path, paths: list[Path], flag: bool | None) -> bool:
    """Whether the input is one video's frames: a video file, --sequence / --no-sequence, or a folder of a dataset
    whose panoptic.json describes video frames (DIR/images or DIR); anything else is a set of unrelated photos."""
    from panoptic_ros.engine.sequence_eval import is_sequence_dataset

    if is_video(spec):
        return True
    if flag is not None:
        return bool(flag) and len(paths) > 1
    folders = {p.parent for p in paths}
    return len(paths) > 1 and len(folders) == 1 and any(is_sequence_dataset(d) for f in folders
                                                       for d in (f, f.parent))


def frame_count(spec: str | Path) -> int | None:
    import cv2

    cap = cv2.VideoCapture(str(spec))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    cap.release()
    return n or None


def run(args) -> int:
    import time

    from tqdm import tqdm

    from panoptic_ros.data import write_image, write_panoptic_png
    from panoptic_ros.engine.prediction_files import dataset_segments, list_images, panoptic_numpy
    from panoptic_ros.tracking import PanopticTracker
    from panoptic_ros.utils.json_io import write_json
    from panoptic_ros.visualization import render_overlay

    from .options import pipeline_from_args

    if args.fps is not None and not args.fps > 0:
        raise ValueError(f"--fps must be positive, got {args.fps}")
    video = is_video(args.images)
    paths = [] if video else list_images(args.images)
    pipeline, cfg = pipeline_from_args(args, SECTIONS)
    inf, alpha = cfg.inference, cfg.node.overlay_alpha
    tracking = inf.tracking if args.tracking is None else args.tracking
    sequence = is_sequence(args.images, paths, args.sequence)
    if not sequence and len(paths) > 1:
        log.info("%d images as separate photos (ids per image); --sequence treats them as the frames of one video",
                 len(paths))
    tracker = PanopticTracker(inf, pipeline.categories) if tracking and sequence else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frames = (video_frames(Path(args.images), args.fps, inf.max_input_pixels) if video
              else image_frames(paths, args.fps or DEFAULT_FPS, inf.max_input_pixels))
    total = frame_count(args.images) if video else len(paths)
    written, skipped, tracker_ms, resets = [], [], [], []
    for stem, source, stamp, image, reason in tqdm(frames, total=total, desc="predict", unit="frame",
                                                   disable=args.no_progress):
        if image is None:
            log.warning("%s", reason)
            skipped.append({"frame": source, "reason": reason})
            continue
        t0 = time.perf_counter()
        result = pipeline.predict([image], inference=inf)[0]
        ms = 1000 * (time.perf_counter() - t0)
        if tracker is not None:
            result = tracker.update(result, stamp)
            tracker_ms.append(1000 * tracker.last_update_s)
            if tracker.last_reset:
                log.info("tracker reset: %s", tracker.last_reset)
                resets.append({"frame": source, "reason": tracker.last_reset})
        pan = panoptic_numpy(result)
        segments = dataset_segments(result.segments, pipeline.categories)
        for seg, src in zip(segments, result.segments):
            if "track_age" in src:
                seg.update(track_age=int(src["track_age"]), first_seen=round(float(src["first_seen"]), 6))
        write_panoptic_png(out / f"{stem}_panoptic.png", pan)
        write_json(out / f"{stem}.json", {"image": source, "height": int(pan.shape[0]), "width": int(pan.shape[1]),
                                          "policy": inf.merge_policy, "latency_ms": round(ms, 2),
                                          "stamp": round(stamp, 6), "tracking": tracker is not None,
                                          "segments": segments})
        if not args.no_overlay:
            write_image(out / f"{stem}_overlay.jpg",
                        render_overlay(image, pan, result.segments, pipeline.categories, alpha))
        written.append(stem)
    write_json(out / "summary.json", {
        "input": str(args.images), "written": len(written), "skipped": skipped, "sequence": sequence,
        "tracking": tracker is not None,
        "tracker_ms_mean": round(sum(tracker_ms) / len(tracker_ms), 3) if tracker_ms else None,
        "tracker_resets": resets, "max_input_pixels": inf.max_input_pixels})
    note = f"; skipped {len(skipped)} frame(s) above inference.max_input_pixels" if skipped else ""
    print(f"wrote {len(written)} prediction(s) to {out}{note}")
    return 0
