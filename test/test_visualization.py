"""render_overlay / colorize_panoptic: tint by instance, untouched unknown pixels, contours, labels."""
import numpy as np
import pytest
import torch

from panoptic_ros.data.categories import Category, CategoryMap
from panoptic_ros.visualization import (
    JITTER,
    colorize_panoptic,
    instance_color,
    label_layout,
    render_overlay,
    segment_color_table,
)

CATS = CategoryMap([Category(1, "car", True, (0, 0, 142)), Category(2, "road", False, (128, 64, 128))])


def scene():
    """60x80: road (id 1) bottom half, two cars (ids 2, 3) side by side on top, unknown strip at the top."""
    pan = np.zeros((60, 80), np.int32)
    pan[30:, :] = 1
    pan[10:30, 0:40] = 2
    pan[10:30, 40:80] = 3
    segments = [
        {"id": 1, "category_id": 1, "isthing": False, "score": 1.0, "bbox": [0, 30, 80, 30], "area": 2400},
        {"id": 2, "category_id": 0, "isthing": True, "score": 0.9, "bbox": [0, 10, 40, 20], "area": 800},
        {"id": 3, "category_id": 0, "isthing": True, "score": 0.7, "bbox": [40, 10, 40, 20], "area": 800},
    ]
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    return image, pan, segments


def test_instance_colors_jitter_things_not_stuff():
    assert instance_color((128, 64, 128), 5, isthing=False) == (128, 64, 128)
    a, b = instance_color((0, 0, 142), 2, True), instance_color((0, 0, 142), 3, True)
    assert a != b
    assert a == instance_color((0, 0, 142), 2, True)  # stable across frames
    for color in (a, b):
        assert all(abs(c - base) <= JITTER for c, base in zip(color, (0, 0, 142)))


def test_overlay_tints_segments_and_keeps_unknown_pixels():
    image, pan, segments = scene()
    out = render_overlay(image, pan, segments, CATS, alpha=0.5, contours=False, labels=False)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(out[:10], image[:10])  # unknown strip untouched
    table = segment_color_table(segments, CATS, 4)
    for seg_id, (r, c) in ((1, (45, 20)), (2, (20, 20)), (3, (20, 60))):
        expected = 0.5 * image[r, c].astype(float) + 0.5 * table[seg_id].astype(float)
        assert np.all(np.abs(out[r, c].astype(float) - expected) <= 1.0), seg_id
    assert not np.array_equal(table[2], table[3])  # the two cars differ


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_alpha_extremes(alpha):
    image, pan, segments = scene()
    out = render_overlay(image, pan, segments, CATS, alpha=alpha, contours=False, labels=False)
    table = segment_color_table(segments, CATS, 4)
    expected = image[20, 20] if alpha == 0.0 else table[2]
    assert np.array_equal(out[20, 20], expected)


def test_contours_and_labels_are_drawn():
    image, pan, segments = scene()
    plain = render_overlay(image, pan, segments, CATS, contours=False, labels=False)
    with_contours = render_overlay(image, pan, segments, CATS, contours=True, labels=False)
    table = segment_color_table(segments, CATS, 4)
    # the boundary column between the two cars takes each car's full colour
    assert np.array_equal(with_contours[20, 39], table[2]) and np.array_equal(with_contours[20, 40], table[3])
    assert np.array_equal(with_contours[20, 20], plain[20, 20])  # interior untouched by contours
    labelled = render_overlay(image, pan, segments, CATS, contours=False, labels=True)
    assert not np.array_equal(labelled[10:25, 0:40], plain[10:25, 0:40])  # text box at the car's bbox corner
    assert np.array_equal(labelled[:10], image[:10])  # labels stay inside their segments here


def test_accepts_tensors_and_checks_shapes():
    image, pan, segments = scene()
    out = render_overlay(image, torch.from_numpy(pan), segments, CATS)
    assert out.shape == image.shape
    with pytest.raises(ValueError, match="panoptic"):
        render_overlay(image, pan[:10], segments, CATS)
    with pytest.raises(ValueError, match="image_rgb"):
        render_overlay(image.astype(np.float32), pan, segments, CATS)
    with pytest.raises(ValueError, match="alpha"):
        render_overlay(image, pan, segments, CATS, alpha=1.5)


def test_colorize_panoptic():
    _, pan, segments = scene()
    colors = colorize_panoptic(pan, segments, CATS)
    assert colors.shape == (60, 80, 3)
    assert not colors[:10].any()  # unknown = black
    assert tuple(colors[45, 5]) == (128, 64, 128)  # stuff in its class colour
    assert tuple(colors[20, 5]) == instance_color((0, 0, 142), 2, True)


def test_colours_follow_the_id_across_frames_and_large_track_ids():
    """With tracking the id is the track id: the same id gets the same colour whatever else is in the frame,
    also for ids far above the direct table (long runs), without a table as large as the ids."""
    image, pan, segments = scene()
    big = 2**30 + 7
    frame_b = pan.copy()
    frame_b[frame_b == 3] = big                       # another frame: car 3 became a track with a large id
    segs_b = [dict(s, id=big) if s["id"] == 3 else s for s in segments]
    a = colorize_panoptic(pan, segments, CATS)
    b = colorize_panoptic(frame_b, segs_b, CATS)
    assert np.array_equal(a[20, 20], b[20, 20])       # car 2 keeps its colour
    assert tuple(b[20, 60]) == instance_color((0, 0, 142), big, True)
    assert np.array_equal(a[45, 5], b[45, 5])         # stuff too
    out = render_overlay(image, frame_b, segs_b, CATS, alpha=1.0, contours=False, labels=False)
    assert tuple(out[20, 60]) == instance_color((0, 0, 142), big, True)
    frame_b[0, 0] = 12345678                          # an id no segment lists: black, like unknown
    assert not colorize_panoptic(frame_b, segs_b, CATS)[0, 0].any()


def test_tracked_segments_show_their_id_in_the_label():
    image, pan, segments = scene()
    tracked = [dict(s, track_age=3, first_seen=0.0) if s["isthing"] else s for s in segments]
    plain = render_overlay(image, pan, segments, CATS, contours=False, labels=True)
    labelled = render_overlay(image, pan, tracked, CATS, contours=False, labels=True)
    assert not np.array_equal(plain[10:25, 0:40], labelled[10:25, 0:40])  # "car #2 0.90" is wider than "car 0.90"


def _overlaps(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_labels_sit_inside_their_segments_not_at_the_box_corner():
    """Stuff whose box starts at the image's left edge: each label is centred well inside its own region (the
    point farthest from its border), not stacked at the top-left corners of the boxes (category_id: channel)."""
    pan = np.zeros((240, 320), np.int32)
    pan[:80] = 1            # sky-like band on top
    pan[80:] = 2            # road below
    pan[120:200, 200:280] = 3
    cats = CategoryMap([Category(1, "sky", False), Category(2, "road", False), Category(3, "car", True)])
    segments = [{"id": 1, "category_id": 0, "isthing": False, "score": 1.0, "bbox": [0, 0, 320, 80], "area": 25600},
                {"id": 2, "category_id": 1, "isthing": False, "score": 1.0, "bbox": [0, 80, 320, 160],
                 "area": 44800},
                {"id": 3, "category_id": 2, "isthing": True, "score": 0.9, "bbox": [200, 120, 80, 80], "area": 6400}]
    layout = label_layout(pan, segments, cats)
    assert [text for text, _ in layout] == ["car 0.90", "road", "sky"]
    for (_, box), seg_id in zip(layout, (3, 2, 1)):
        cx, cy = (box[0] + box[2]) // 2, (box[1] + box[3]) // 2
        assert pan[cy, cx] == seg_id and box[0] > 40, (seg_id, box)   # inside, away from the left edge
    car = layout[0][1]
    assert abs((car[0] + car[2]) / 2 - 240) <= 4 and abs((car[1] + car[3]) / 2 - 160) <= 4   # the car's centre
    assert not any(_overlaps(a, b) for i, (_, a) in enumerate(layout) for _, b in layout[i + 1:])


def test_crowded_thing_labels_do_not_overlap():
    """Ten small things side by side (labels wider than the things): every label inside the image, none overlapping,
    the best-scored ones kept."""
    pan = np.full((120, 160), 1, np.int32)
    segments = [{"id": 1, "category_id": 1, "isthing": False, "score": 1.0, "bbox": [0, 0, 160, 120], "area": 0}]
    for k in range(10):
        x, y = 16 * (k % 5) + 20, 40 + 24 * (k // 5)
        pan[y:y + 16, x:x + 14] = k + 2
        segments.append({"id": k + 2, "category_id": 0, "isthing": True, "score": 0.5 + k / 100,
                         "bbox": [x, y, 14, 16], "area": 224})
    segments[0]["area"] = int((pan == 1).sum())
    layout = label_layout(pan, segments, CATS)
    boxes = [b for _, b in layout]
    assert len(boxes) >= 6 and "car 0.59" in [t for t, _ in layout]
    assert all(0 <= b[0] < b[2] <= 160 and 0 <= b[1] < b[3] <= 120 for b in boxes)
    assert not any(_overlaps(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
