"""`panoptic synth --sequence` re-identification options: the camera comes back, objects leave and return 1-3 s
later, walls hide passing objects 1-3 s, look-alikes share one appearance; the default video is unchanged."""
import json

import numpy as np

from panoptic_ros.cli.main import main
from panoptic_ros.data.synth import WALL, ReidOptions, render_sequence


def absences(frames):
    """{track id: [absence lengths in seconds]} (gaps between two appearances)."""
    seen = {}
    for f in frames:
        for s in f.segments:
            if s["id"] % 1000:
                seen.setdefault(s["track_id"], []).append(f.stamp)
    return {t: [round(b - a - 0.1, 1) for a, b in zip(st, st[1:]) if b - a > 0.15] for t, st in seen.items()}


def test_default_video_is_unchanged_by_the_options_code():
    a = list(render_sequence(3, 4, 96, 64))
    b = list(render_sequence(3, 4, 96, 64, reid=ReidOptions()))
    assert all(np.array_equal(x.image, y.image) and np.array_equal(x.id_map, y.id_map) for x, y in zip(a, b))


def test_pan_back_reentering_and_walls():
    frames = list(render_sequence(5, 80, 320, 240, pan=6.0, objects=4,
                                  reid=ReidOptions(pan_back=2.0, reenter=2, occluders=1)))
    # the camera pans 2 s away and 2 s back: after that the background is where it started
    stuff = [f.id_map // 1000 for f in frames]

    def same_background(a, b):
        both = (a > 4) & (b > 4)
        return np.array_equal(a[both], b[both])
    assert not same_background(stuff[0], stuff[20]) and same_background(stuff[0], stuff[45])
    assert (frames[0].id_map == WALL * 1000).all(axis=0).sum() >= 20           # a wall: full-height columns
    gaps = [g for gs in absences(frames).values() for g in gs]
    assert sum(1 <= g <= 5 for g in gaps) >= 2, gaps
    assert all(s["track_id"] == s["id"] for f in frames for s in f.segments)


def test_lookalikes_share_their_appearance():
    frames = list(render_sequence(9, 3, 320, 240, objects=12, reid=ReidOptions(lookalike=True)))
    f = frames[0]
    colours = {}
    for s in f.segments:
        cat = s["id"] // 1000
        if 1 <= cat <= 4 and s["area"] > 150:
            colours.setdefault(cat, []).append(np.median(f.image[f.id_map == s["id"]], axis=0))
    shared = [np.ptp(np.array(c), axis=0).max() for c in colours.values() if len(c) >= 2]
    assert shared and max(shared) <= 25, colours


def test_cli_writes_the_options_into_the_ground_truth(tmp_path):
    assert main(["synth", "--sequence", "--frames", "3", "--width", "96", "--height", "64", "--pan-back", "1",
                 "--reenter", "1", "--occluders", "1", "--lookalike", "--out", str(tmp_path / "v")]) == 0
    info = json.loads((tmp_path / "v" / "panoptic.json").read_text())["info"]
    assert info["pan_back"] == 1.0 and info["reenter"] == 1 and info["occluders"] == 1 and info["lookalike"]
    assert main(["synth", "--reenter", "1", "--out", str(tmp_path / "w")]) != 0


def test_reentering_objects_leave_and_come_back():
    """Only re-entering objects (no others, still camera): each leaves the view and is back 1-5 s later."""
    frames = list(render_sequence(4, 120, 640, 480, pan=0.0, objects=0, reid=ReidOptions(reenter=2)))
    gaps = absences(frames)
    assert len(gaps) == 2 and all(any(1 <= g <= 5 for g in gs) for gs in gaps.values()), gaps
