"""`panoptic bag make-sample`: a small camera bag from the synthetic scene generator, with its ground truth.

Writes OUT/sample_bag (rosbag2, mcap or sqlite3) with one image topic and OUT/gt in COCO panoptic layout
(OUT/gt/images, OUT/gt/panoptic, OUT/gt/panoptic.json). Frame i of the bag (0-based) is GT image id i + 1
(file name f"{i + 1:06d}.jpg"), header stamp = --start-stamp + i / --fps seconds; panoptic.json's images
carry that stamp as "stamp_ns" and the position as "bag_index", so `bag eval` and `bag record-eval` match
frames to their ground truth by stamp (see groundtruth.py). Images in the bag are the decoded GT JPEGs, so
the bag and the GT folder show exactly the same pixels.

--sequence makes the frames one synthetic video instead of independent scenes (panoptic_ros.data.synth's
sequences: a camera panning across a wide scene, objects moving, entering, leaving, crossing and occluding
each other). Its ground truth keeps each object's id across frames: every segment of panoptic.json carries it
as "track_id", every image its "video_id" and "frame_index", so `bag eval --gt` and `bag record-eval --gt`
report STQ and ID switches next to PQ.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np

from ...data import make_synthetic_dataset, read_image
from ...data.synth import make_synthetic_sequence
from ..conversions import RosbagsMessages, numpy_to_image_msg
from .reader import COMPRESSED, IMAGE
from .writer import BagWriter, find_bag_file

log = logging.getLogger(__name__)

ENCODINGS = ("rgb8", "bgr8", "mono8", "jpeg", "png")
DEFAULT_START_NS = 1_700_000_000 * 1_000_000_000


def make_sample(out: str | Path, *, frames: int = 30, width: int = 640, height: int = 480, seed: int = 0,
                fps: float = 10.0, topic: str = "/camera/image_raw", frame_id: str = "camera",
                encoding: str = "rgb8", storage: str = "mcap", overlap: str = "normal", force: bool = False,
                start_ns: int = DEFAULT_START_NS, sequence: bool = False) -> dict:
    """Write OUT/sample_bag and OUT/gt; returns a summary dict (paths, topic, frames)."""

    if frames < 1:
        raise ValueError(f"--frames must be at least 1, got {frames}")
    if fps <= 0:
        raise ValueError(f"--fps must be positive, got {fps}")
    if encoding not in ENCODINGS:
        raise ValueError(f"--encoding must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
    out = Path(out)
    bag_path, gt_path = out / "sample_bag", out / "gt"
    for p in (bag_path, gt_path):
        if p.exists():
            if not force:
                raise FileExistsError(f"{p} exists already (use --force to replace it)")
            shutil.rmtree(p)
    if sequence:   # one video: frame i at i / fps seconds, the same clock as the bag's stamps
        make_synthetic_sequence(gt_path, frames, seed, width=width, height=height, fps=fps, progress=True)
    else:
        make_synthetic_dataset(gt_path, frames, seed, width=width, height=height, overlap=overlap, progress=True)

    meta_path = gt_path / "panoptic.json"
    meta = json.loads(meta_path.read_text())
    images = sorted(meta["images"], key=lambda im: im["id"])
    compressed = encoding in ("jpeg", "png")
    msg_topic = f"{topic.rstrip('/')}/compressed" if compressed else topic
    msgtype = COMPRESSED if compressed else IMAGE
    period_ns = int(round(1e9 / fps))
    with BagWriter(bag_path, {msg_topic: msgtype}, storage=storage) as writer:
        T = writer.store.types
        for i, info in enumerate(images):
            stamp = start_ns + i * period_ns
            rgb = read_image(gt_path / "images" / info["file_name"])
            header = T["std_msgs/msg/Header"](
                stamp=T["builtin_interfaces/msg/Time"](sec=stamp // 1_000_000_000, nanosec=stamp % 1_000_000_000),
                frame_id=frame_id)
            writer.write(msg_topic, stamp, image_message(T, header, rgb, encoding))
            info["stamp_ns"] = stamp
            info["bag_index"] = i
    meta["images"] = images
    meta.setdefault("info", {})["bag"] = {"topic": msg_topic, "encoding": encoding, "fps": fps,
                                          "mapping": "images[].stamp_ns == header stamp of the bag message"}
    meta_path.write_text(json.dumps(meta))
    summary = {"bag": str(bag_path), "bag_file": str(find_bag_file(bag_path)), "gt": str(gt_path),
               "topic": msg_topic, "frames": frames, "width": width, "height": height, "encoding": encoding,
               "storage": storage, "fps": fps, "seed": seed, "sequence": sequence}
    log.info("wrote %d frames to %s (%s) and ground truth to %s", frames, bag_path, msg_topic, gt_path)
    return summary


def image_message(T, header, rgb: np.ndarray, encoding: str):
    """A rosbags sensor_msgs Image (rgb8/bgr8/mono8) or CompressedImage (jpeg/png) of an RGB image."""
    import cv2

    if encoding in ("jpeg", "png"):
        ext = ".jpg" if encoding == "jpeg" else ".png"
        ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if not ok:
            raise ValueError(f"could not encode a {encoding} image")
        return T[COMPRESSED](header=header, format=f"rgb8; {encoding} compressed bgr8",
                             data=np.frombuffer(buf.tobytes(), np.uint8))
    if encoding == "bgr8":
        arr = rgb[..., ::-1]
    elif encoding == "mono8":
        arr = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    else:
        arr = rgb

    return numpy_to_image_msg(arr, encoding, header, RosbagsMessages(T))
