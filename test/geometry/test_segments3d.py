"""3D segment statistics from synthetic depth whose answer is known (no ROS)."""
import numpy as np
import pytest

from panoptic_ros.geometry import Intrinsics, back_project, segment_points, segments_3d
from panoptic_ros.geometry.segments3d import resize_labels

W, H = 640, 480
K = Intrinsics(fx=525.0, fy=520.0, cx=319.5, cy=239.5, width=W, height=H)
BOX = (slice(180, 300), slice(400, 520))       # rows, cols of the box's front face


def scene():
    """A wall at 2 m (segment 1) with a box whose front face is at 1 m (segment 2)."""
    depth = np.full((H, W), 2.0, np.float32)
    depth[BOX] = 1.0
    labels = np.ones((H, W), np.int32)
    labels[BOX] = 2
    return depth, labels


def box_truth(z=1.0):
    rows, cols = np.mgrid[BOX]
    return np.array([np.median((cols - K.cx) / K.fx * z), np.median((rows - K.cy) / K.fy * z), z])


def test_box_in_front_of_a_plane_has_its_centroid_within_1cm():
    depth, labels = scene()
    # the mask bleeds 3 px into the wall on every side, as a real mask edge does: the median ignores it
    labels[BOX[0].start - 3:BOX[0].stop + 3, BOX[1].start - 3:BOX[1].stop + 3] = 2
    out = segments_3d(depth, K, labels)
    box = out.record(2)
    assert np.linalg.norm(np.array(box["centroid"]) - box_truth()) < 0.01
    assert box["valid_points"] == 120 * 120 and box["area"] == 126 * 126      # the bled wall pixels are gated
    ungated = segments_3d(depth, K, labels, depth_gate=None).record(2)
    assert ungated["valid_points"] == 126 * 126
    assert np.linalg.norm(np.array(ungated["centroid"]) - box_truth()) > 0.01   # what the gate is for
    width_m = (BOX[1].stop - BOX[1].start) / K.fx
    assert box["extent"][0] == pytest.approx(0.9 * width_m, rel=0.05)   # 5..95 percentile of a uniform spread
    assert box["extent"][2] < 0.01                                      # front face: flat in z
    wall = out.record(1)
    assert wall["centroid"][2] == pytest.approx(2.0)
    assert wall["valid_points"] == wall["area"] == int((labels == 1).sum())


def test_invalid_depth_is_ignored_and_a_segment_without_depth_reports_zero_points():
    depth, labels = scene()
    holes = np.random.default_rng(0).random((H, W)) < 0.3
    depth[holes & (labels == 2)] = 0.0
    depth[::7, ::5] = np.nan
    depth[0:10, 0:10] = np.inf
    labels[0:20, 0:20] = 3
    depth[0:20, 0:20] = np.where(np.arange(20) % 2, 0.0, np.nan)[None, :]
    out = segments_3d(depth, K, labels, ids=[2, 3, 7])
    box, empty, absent = out.record(2), out.record(3), out.record(7)
    assert np.linalg.norm(np.array(box["centroid"]) - box_truth()) < 0.01
    assert box["valid_points"] == int((np.isfinite(depth) & (depth > 0) & (labels == 2)).sum())
    assert empty["valid_points"] == 0 and empty["area"] == 400 and np.isnan(empty["centroid"]).all()
    assert absent["valid_points"] == absent["area"] == 0
    assert list(out.ids) == [2, 3, 7]
    with pytest.raises(KeyError, match="segment 1"):
        out.record(1)


def test_grouped_statistics_match_numpy_per_segment():
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.5, 6.0, (60, 80)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.2] = 0.0
    labels = rng.integers(0, 9, depth.shape).astype(np.int32)
    out = segments_3d(depth, K.scaled_to(80, 60), labels, low=10, high=80, max_depth=5.0, depth_gate=None)
    points = back_project(depth, K.scaled_to(80, 60), max_depth=5.0)
    for i, seg_id in enumerate(out.ids):
        pts = points[(labels == seg_id) & np.isfinite(points[..., 2])].astype(np.float64)
        assert out.valid_points[i] == len(pts)
        np.testing.assert_allclose(out.centroid[i], np.median(pts, axis=0), rtol=1e-5)
        lo, hi = np.percentile(pts, [10, 80], axis=0)
        np.testing.assert_allclose(out.extent[i], hi - lo, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(out.box_center[i], (lo + hi) / 2, rtol=1e-4, atol=1e-6)
    assert set(out.ids) == set(range(1, 9))


def test_scaled_depth_and_intrinsics_give_the_same_centroid():
    depth, labels = scene()
    half = depth[::2, ::2].copy()                  # a depth stream at half the colour resolution
    out = segments_3d(half, K, labels)             # K of the colour image, labels at colour size
    assert np.linalg.norm(np.array(out.record(2)["centroid"]) - box_truth()) < 0.01
    small = K.scaled_to(320, 240)
    assert (small.fx, small.cx) == (262.5, 159.5)
    with pytest.raises(ValueError, match="aspect"):
        segments_3d(depth[:, :400], K, labels)
    with pytest.raises(ValueError, match="aspect"):
        resize_labels(labels, 300, 300)


def test_point_cloud_and_bad_input():
    depth, labels = scene()
    depth[BOX[0].start, BOX[1]] = 0.0
    pts, ids = segment_points(depth, K, labels, ids=[2], stride=2)
    assert pts.dtype == np.float32 and set(ids) == {2}
    assert len(pts) == ((labels == 2) & (depth > 0)).sum() // 2
    np.testing.assert_allclose(pts[:, 2], 1.0)
    with pytest.raises(ValueError, match="float array in metres"):
        segments_3d(depth.astype(np.uint16), K, labels)
    with pytest.raises(ValueError, match="fx, fy"):
        Intrinsics.from_matrix(np.zeros(9), W, H)
    with pytest.raises(ValueError, match="low <= high"):
        segments_3d(depth, K, labels, low=90, high=10)


def test_anisotropic_focal_lengths_are_not_swapped():
    """fx scales columns and fy rows: with fx = 100 and fy = 400 each hand-computed point differs from its
    swapped value by 4x (the other tests use fx ~ fy, where a swap hides; issue 19 item 8)."""
    k = Intrinsics.from_matrix([100.0, 0.0, 3.5, 0.0, 400.0, 2.5, 0.0, 0.0, 1.0], 8, 6)
    assert (k.fx, k.fy, k.cx, k.cy) == (100.0, 400.0, 3.5, 2.5)
    depth = np.full((6, 8), 2.0, np.float32)
    corner, other = (0, 7), (5, 0)                                     # (row, column)
    expected = {corner: [(7 - 3.5) / 100 * 2, (0 - 2.5) / 400 * 2, 2.0],    # [0.07, -0.0125, 2]
                other: [(0 - 3.5) / 100 * 2, (5 - 2.5) / 400 * 2, 2.0]}     # [-0.07, 0.0125, 2]
    points = back_project(depth, k)
    for pixel, xyz in expected.items():
        np.testing.assert_allclose(points[pixel], xyz, rtol=1e-6)
    labels = np.zeros((6, 8), np.int32)
    labels[corner], labels[other] = 1, 2
    out = segments_3d(depth, k, labels)
    for seg_id, pixel in ((1, corner), (2, other)):
        np.testing.assert_allclose(out.record(seg_id)["centroid"], expected[pixel], rtol=1e-6)
    pts, ids = segment_points(depth, k, labels, ids=[1, 2], stride=1)
    np.testing.assert_allclose(pts[np.asarray(ids) == 1][0], expected[corner], rtol=1e-6)
