"""The tracker's helpers, each against a hand-computed or independent answer (a mutation run found them unchecked:
docs/mutation.md): border sides, box IoU, the sample grid of an image or depth map of another size, the id remap
on both of its paths, merging duplicate stuff segments, and the running appearance of a track."""
import numpy as np
import pytest
import torch
from tracking_frames import DISC, ROAD, painted, rect_frame

from panoptic_ros.config import InferenceConfig
from panoptic_ros.data.synth import CATEGORIES
from panoptic_ros.panoptic.result import PanopticResult
from panoptic_ros.tracking import PanopticTracker, reid
from panoptic_ros.tracking import tracker as tr


def test_border_sides_of_boxes():
    boxes = np.array([[0, 10, 20, 30],        # left
                      [5, 0, 20, 30],         # top
                      [5, 10, 100, 30],       # right (x1 = width)
                      [5, 10, 20, 50],        # bottom (y1 = height)
                      [1, 1, 99, 49],         # inside
                      [0, 0, 100, 50]], float)   # all four
    x, y = tr._border_sides(boxes, (50, 100))
    assert x.tolist() == [True, False, True, False, False, True]
    assert y.tolist() == [False, True, False, True, False, True]


def test_box_iou():
    a = np.array([[0, 0, 10, 10], [0, 0, 4, 4]], float)
    b = np.array([[5, 0, 15, 10], [0, 0, 10, 10], [20, 20, 30, 30], [2, 2, 2, 8]], float)
    expected = [[50 / 150, 1.0, 0.0, 0.0],
                [0.0, 16 / 100, 0.0, 0.0]]          # [2, 2, 2, 8] has no area
    np.testing.assert_allclose(tr._box_iou(a, b), expected)


def test_the_grid_of_an_array_of_the_label_maps_size_is_its_stride_sample():
    array = np.arange(7 * 9).reshape(7, 9)
    np.testing.assert_array_equal(tr._grid_of(array, (3, 3), (7, 9), 3), array[::3, ::3][:3, :3])
    np.testing.assert_array_equal(tr._grid_of(array, (2, 3), (7, 9), 3), array[::3, ::3][:2, :3])
    image = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)    # pixels: copied per channel
    grid = tr._grid_of(image, (3, 3), (7, 9), 3)
    np.testing.assert_array_equal(grid, image[::3, ::3])
    assert grid.dtype == np.uint8 and grid.flags.c_contiguous


@pytest.mark.parametrize("scale", [2.0, 0.5, 1.5])
def test_the_grid_of_an_array_of_another_size_samples_the_same_places(scale):
    """A depth map (or image) registered to the label map at another resolution: grid point (i, j) of the label
    map's grid (pixel i * stride, j * stride) reads the array at the same relative place."""
    h, w, stride = 60, 80, 10
    ah, aw = int(h * scale), int(w * scale)
    rows, cols = np.meshgrid(np.arange(ah), np.arange(aw), indexing="ij")
    array = np.stack([rows, cols], -1)                  # each pixel holds its own (row, col)
    grid = tr._grid_of(array, (h // stride, w // stride), (h, w), stride)
    assert grid.shape == (h // stride, w // stride, 2)
    i, j = np.meshgrid(np.arange(h // stride), np.arange(w // stride), indexing="ij")
    np.testing.assert_array_equal(grid[..., 0], np.minimum(i * stride * ah // h, ah - 1))
    np.testing.assert_array_equal(grid[..., 1], np.minimum(j * stride * aw // w, aw - 1))


def test_the_grid_of_a_smaller_array_stays_inside_it():
    array = np.arange(4 * 5).reshape(4, 5)
    grid = tr._grid_of(array, (6, 6), (6, 6), 1)
    assert grid.shape == (6, 6)
    assert grid.max() == array.max() and grid[-1, -1] == array[-1, -1] and grid[0, 0] == array[0, 0]


@pytest.mark.parametrize("dtype, size", [(torch.int32, 10), (torch.int64, 10), (torch.uint8, 10), (torch.int16, 10),
                                         (torch.int32, 300), (torch.int64, 300), (torch.int16, 300)])
def test_remap_is_a_lookup_keeping_dtype_and_shape(dtype, size):
    """<= 256 ids: OpenCV's table lookup; more: a gather on the map's device."""
    rng = np.random.default_rng(0)
    pan = torch.from_numpy(rng.integers(0, size, size=(7, 11))).to(dtype)
    lut = rng.integers(0, 120, size=size).astype(np.int32)
    out = tr._remap(pan, lut)
    assert out.dtype == pan.dtype and out.shape == pan.shape
    np.testing.assert_array_equal(out.numpy(), lut[pan.numpy().astype(np.int64)])


def test_remap_of_an_empty_map_and_of_a_batch_of_maps():
    lut = np.array([0, 5, 9], np.int32)
    assert tr._remap(torch.zeros((0, 4), dtype=torch.int32), lut).shape == (0, 4)
    batch = torch.tensor([[[0, 1], [2, 1]], [[2, 2], [0, 0]]], dtype=torch.int32)
    np.testing.assert_array_equal(tr._remap(batch, lut).numpy(), lut[batch.numpy()])


def test_duplicate_stuff_segments_become_one():
    segments = [{"id": 1, "category_id": ROAD, "isthing": False, "area": 10, "bbox": [0, 0, 10, 5], "score": 0.6},
                {"id": 2, "category_id": DISC, "isthing": True, "area": 4, "bbox": [1, 1, 2, 2], "score": 0.9},
                {"id": 3, "category_id": ROAD, "isthing": False, "area": 7, "bbox": [20, 10, 5, 8], "score": 0.8},
                {"id": 4, "category_id": 6, "isthing": False, "area": 3, "bbox": [2, 3, 1, 1]},
                {"id": 5, "category_id": ROAD, "isthing": False, "area": 1, "bbox": [4, 2, 1, 1], "score": 0.1}]
    out = tr._merge_duplicate_stuff(segments)
    assert [s["id"] for s in out] == [1, 2, 4]
    road = out[0]
    assert road["area"] == 18 and road["bbox"] == [0, 0, 25, 18] and road["score"] == 0.8
    assert road["category_id"] == ROAD and not road["isthing"]
    assert out[1] is segments[1] and out[2] is segments[3]
    assert segments[0]["area"] == 10 and segments[0]["bbox"] == [0, 0, 10, 5]      # the input is unchanged


def test_a_split_stuff_class_gets_its_one_id_everywhere():
    pan = np.ones((20, 30), np.int32)
    pan[:, 15:] = 3                                          # road in two segments (ids 1 and 3)
    pan[5:9, 5:9] = 2
    segments = [{"id": 1, "category_id": ROAD, "isthing": False, "area": 284, "bbox": [0, 0, 15, 20]},
                {"id": 2, "category_id": DISC, "isthing": True, "area": 16, "bbox": [5, 5, 4, 4], "score": 0.9},
                {"id": 3, "category_id": ROAD, "isthing": False, "area": 300, "bbox": [15, 0, 15, 20]}]
    out = PanopticTracker(InferenceConfig(track_iou_pixels=0), CATEGORIES).update(
        PanopticResult(torch.from_numpy(pan), segments), 0.0)
    road = tr.stuff_id(ROAD)
    ids = out.panoptic.numpy()
    assert set(np.unique(ids[pan != 2]).tolist()) == {road}
    stuff = [s for s in out.segments if not s["isthing"]]
    assert len(stuff) == 1 and stuff[0]["id"] == road and stuff[0]["area"] == 584 and stuff[0]["bbox"] == [0, 0, 30, 20]


def _disc_frame(colour, rect=(10, 10, 8, 8), h=40, w=60):
    result = rect_frame([rect], h, w)
    return result, painted(result, [colour])


def _one_hist(colour, n=64):
    g = np.ones((1, n), np.uint8)
    return reid.colour_histograms(np.tile(np.array(colour, np.uint8), (1, n, 1)), g, 1)[0]


def test_a_tracks_appearance_is_the_running_mean_of_its_frames():
    tracker = PanopticTracker(InferenceConfig(track_iou_pixels=0), CATEGORIES)
    red, blue, green = (200, 10, 10), (10, 10, 200), (10, 200, 10)
    for k, colour in enumerate([red, blue, green]):
        result, image = _disc_frame(colour)
        tracker.update(result, 0.1 * k, image=image)
    table = tracker._table
    (row,) = np.flatnonzero(table.live)
    expected = 0.5 * (0.5 * (_one_hist(red) + _one_hist(blue)) + _one_hist(green))
    np.testing.assert_allclose(table.hist[row], expected, atol=1e-6)
    assert table.has_hist[row] and table.age[row] == 3


def test_a_segment_too_small_for_the_grid_leaves_the_appearance_as_it_was():
    tracker = PanopticTracker(InferenceConfig(track_iou_pixels=0), CATEGORIES)
    red, blue = (200, 10, 10), (10, 10, 200)
    result, image = _disc_frame(red)
    tracker.update(result, 0.0, image=image)
    result, image = _disc_frame(blue, rect=(10, 10, 1, 2))               # 2 pixels < MIN_GRID_PIXELS
    tracker.update(result, 0.1, image=image)
    (row,) = np.flatnonzero(tracker._table.live)
    assert tracker._table.age[row] == 2                                  # the same track ...
    np.testing.assert_allclose(tracker._table.hist[row], _one_hist(red), atol=1e-6)   # ... still red


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_median_of_rows_is_numpys(n):
    rows = np.random.default_rng(n).normal(size=(n, 2))
    np.testing.assert_allclose(tr._median(rows), np.median(rows, axis=0))


def test_the_distance_stage_leaves_tracks_taken_by_mask_iou_alone():
    """Segment 0 already continues track 0 (column 0); segment 1, nearer track 0 than track 1, may only take 1."""
    boxes = np.array([[0, 0, 10, 10], [12, 0, 22, 10]], float)
    centers = np.array([[14.0, 5.0], [24.0, 5.0]])
    track_boxes = np.array([[9, 0, 19, 10], [19, 0, 29, 10]], float)
    col = np.array([0, -1])
    tr.PanopticTracker._match_by_distance(boxes, centers, track_boxes, np.zeros((2, 2)), np.ones((2, 2), bool), col)
    assert col.tolist() == [0, 1]


def test_a_measured_camera_step_sets_its_offset_and_velocity_per_axis():
    tracker = PanopticTracker(InferenceConfig(), CATEGORIES)
    tracker._frame_dt, tracker._prev_offset = 0.1, (1.0, 2.0)
    tracker._take_camera_step((3.0, -4.0))
    assert tracker._cam_offset == pytest.approx((4.0, -2.0))
    assert tracker._cam_velocity == pytest.approx((30.0, -40.0))


def test_the_camera_step_is_the_backgrounds_shift_in_pixels():
    """A textured green channel (blue and red plain) shifted by (+3, -2) grid cells at stride 4: (+12, -8) px."""
    rng = np.random.default_rng(5)
    texture = (rng.random((60, 80)) * 255).astype(np.uint8)
    stride, g = 4, np.zeros((40, 60), np.uint8)
    tracker = PanopticTracker(InferenceConfig(), CATEGORIES)

    def grid(dx, dy):
        image = np.full((40, 60, 3), 90, np.uint8)
        image[..., 1] = texture[10 - dy:50 - dy, 10 - dx:70 - dx]
        return image

    assert tracker._camera_step(grid(0, 0), g, stride) is None               # nothing to compare with yet
    step = tracker._camera_step(grid(3, -2), g, stride)
    assert step == pytest.approx((12.0, -8.0), abs=1.0)                      # (a quarter of a grid cell)
    assert tracker._camera_step(np.full((40, 60, 3), 90, np.uint8), g, stride) is None   # a plain view


def _moved_iou(track_masks, segment_masks, shifts):
    """Reference: IoU of each segment with each track mask moved by its (dx, dy) pixels, the part moved out of
    the image dropped from the track's area."""
    h, w = segment_masks[0].shape
    out = np.zeros((len(segment_masks), len(track_masks)))
    for j, (mask, (dx, dy)) in enumerate(zip(track_masks, shifts)):
        ys, xs = np.nonzero(mask)
        ys, xs = ys + int(dy), xs + int(dx)
        inside = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
        moved = np.zeros((h, w), bool)
        moved[ys[inside], xs[inside]] = True
        for i, seg in enumerate(segment_masks):
            inter = (moved & seg).sum()
            out[i, j] = inter / max(seg.sum() + moved.sum() - inter, 1)
    return out


def test_similarity_is_the_iou_of_the_moved_track_masks():
    """Mask IoU of this frame's segments with the live tracks' masks moved by their predicted shifts, against a
    direct per-pixel computation: a shift inside the image, one carrying part of a mask out of it (that part
    leaves the track's area), one beyond the whole grid (clipped: nothing left), a negative one; a segment too
    small for the grid is compared by box IoU with the moved track boxes instead."""
    h, w = 40, 60
    tracker = PanopticTracker(InferenceConfig(track_iou_pixels=0), CATEGORIES)
    # the last one covers a corner of the first: that track's mask is not its box
    first = [(5, 5, 10, 8), (40, 10, 12, 12), (20, 25, 9, 9), (30, 2, 6, 6), (12, 9, 4, 4)]
    res1 = rect_frame(first, h, w)
    tracker.update(res1, 0.0)
    t = tracker._table
    live = t.live_rows()
    rect_of_row = t.id[live] - tr.THING_ID_BASE - 1
    pan1 = res1.panoptic.numpy()
    track_masks = [pan1 == int(k) + 2 for k in rect_of_row]
    # the first: 2 px, too small for the grid, inside the first track's moved box but in the moved hole of its mask
    # (box IoU > 0, mask IoU 0); the last where the fourth track's mask would land if a shift beyond the grid
    # wrapped round a row of it
    second = [(16, 13, 1, 2), (9, 8, 6, 5), (52, 14, 8, 12), (18, 22, 9, 9), (30, 1, 6, 6)]
    pan2 = rect_frame(second, h, w).panoptic.numpy()
    g = np.where(pan2 >= 2, pan2 - 1, 0).astype(np.uint8)
    seg_area = np.bincount(g.ravel(), minlength=len(second) + 1)
    boxes = np.array([[x, y, x + rw, y + rh] for x, y, rw, rh in second], float)
    # per rect of the first frame; the second one's shift carries 4 of its 12 columns out of the image
    shifts = {0: (3, 2), 1: (12, 4), 2: (-2, -3), 3: (-3 * w, 0), 4: (0, 0)}
    shift = np.array([shifts[int(k)] for k in rect_of_row], float)
    iou = tracker._similarity(g, seg_area, boxes, live, shift)
    expected = _moved_iou(track_masks, [pan2 == k + 2 for k in range(len(second))], shift)
    np.testing.assert_allclose(iou[1:], expected[1:])
    np.testing.assert_allclose(iou[0], tr._box_iou(boxes[:1], t.box[live] + np.tile(shift, 2))[0])
    col = list(rect_of_row).index
    assert iou[2, col(1)] > 0 and expected[:, col(3)].max() == 0 and iou[0, col(0)] > 0 == expected[0, col(0)]
