"""Camera names of a node serving several cameras (outputs go under ``~/<name>/...``); no ROS import.

- an entry ``NAME=TOPIC`` names the camera explicitly;
- otherwise the name comes from the topic: the trailing components that name an image or a transport
  (image_raw, image_rect, image_rect_color, image_color, image_mono, image, color, rgb, compressed, ...) are
  dropped and the last remaining component is the name: ``/front/image_raw`` -> ``front``,
  ``/robot/left/color/image_raw/compressed`` -> ``left``; a topic with nothing left (``/image_raw``) is
  named after its last component (``image_raw``);
- when two topics give the same name, the earlier components are prepended until the names differ
  (``/a/front/image_raw``, ``/b/front/image_raw`` -> ``a_front``, ``b_front``);
- characters outside [A-Za-z0-9_] become ``_``, a leading digit gets a ``cam_`` prefix (a valid ROS name).
Two entries that still collide (the same topic twice, ``/front/image`` and ``/front/image_raw``, or two
equal explicit names) raise CameraNameError naming both.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

IMAGE_COMPONENTS = frozenset({
    "image", "image_raw", "image_rect", "image_rect_raw", "image_rect_color", "image_color", "image_mono",
    "image_rect_mono", "color", "rgb", "compressed", "compressedDepth", "theora", "zstd", "ffmpeg"})
_INVALID = re.compile(r"[^A-Za-z0-9_]")


class CameraNameError(ValueError):
    """Two input topics that map to the same camera name, or an unusable entry."""


def _sanitize(name: str) -> str:
    name = _INVALID.sub("_", name).strip("_") or "camera"
    name = re.sub("_+", "_", name)
    return f"cam_{name}" if name[0].isdigit() else name


def _split(entry: str) -> tuple[str | None, str]:
    entry = str(entry).strip()
    name, sep, topic = entry.partition("=")
    if not sep:
        return None, entry
    if not name.strip() or not topic.strip():
        raise CameraNameError(f"camera entry {entry!r}: expected NAME=TOPIC")
    return name.strip(), topic.strip()


def _candidates(topic: str) -> list[str]:
    """Names of growing length for a topic: [last, second_last_last, ...]."""
    parts = [p for p in topic.strip("/").split("/") if p and p != "~"]
    if not parts:
        raise CameraNameError(f"camera topic {topic!r} is empty")
    kept = list(parts)
    while kept and kept[-1] in IMAGE_COMPONENTS:
        kept.pop()
    if not kept:
        kept = parts[-1:]
    return ["_".join(kept[-n:]) for n in range(1, len(kept) + 1)]


def camera_names(entries: Sequence[str]) -> list[tuple[str, str]]:
    """(camera name, topic) of every entry (a topic or NAME=TOPIC), in order; see the module doc for the rule."""
    parsed = [_split(e) for e in entries]
    if not parsed:
        raise CameraNameError("no camera topics given")
    options = [[_sanitize(name)] if name else [_sanitize(c) for c in _candidates(topic)] for name, topic in parsed]
    level = [0] * len(parsed)
    while True:
        names = [opts[min(lv, len(opts) - 1)] for opts, lv in zip(options, level)]
        clashes = {n for n in names if names.count(n) > 1}
        if not clashes:
            return [(n, topic) for n, (_, topic) in zip(names, parsed)]
        grown = False
        for i, n in enumerate(names):
            if n in clashes and level[i] + 1 < len(options[i]):
                level[i] += 1
                grown = True
        if not grown:
            dupes = [entries[i] for i, n in enumerate(names) if n in clashes]
            raise CameraNameError(f"camera inputs {dupes} all map to the camera name {sorted(clashes)[0]!r}; "
                                  "name them explicitly with NAME=TOPIC entries")
