"""Intrinsics: validation with exact one-line messages, K in both layouts, scaling with fx != fy and cx != cy, and
the aspect check at its boundaries (tests written against the survivors of `make mutation`)."""
import numpy as np
import pytest

from panoptic_ros.geometry import Intrinsics
from panoptic_ros.geometry.intrinsics import check_same_aspect

K_ROWS = [[100.0, 0.0, 9.5], [0.0, 200.0, 4.5], [0.0, 0.0, 1.0]]


def message(call) -> str:
    with pytest.raises(ValueError) as info:
        call()
    return str(info.value)


@pytest.mark.parametrize("fx, fy, cx", [(0.0, 1.0, 0.0), (1.0, 0.0, 0.0), (-1.0, 1.0, 0.0), (1.0, 1.0, np.inf)])
def test_focal_lengths_must_both_be_positive_and_all_finite(fx, fy, cx):
    assert message(lambda: Intrinsics(fx, fy, cx, 0.0, 4, 3)) == (
        f"intrinsics: fx, fy must be finite and > 0 (got fx={fx}, fy={fy}); an all-zero K means the camera is not "
        "calibrated")


def test_small_positive_focal_lengths_and_one_pixel_images_are_valid():
    k = Intrinsics(0.5, 0.5, 0.0, 0.0, 1, 1)
    assert (k.fx, k.fy, k.width, k.height) == (0.5, 0.5, 1, 1)


@pytest.mark.parametrize("width, height", [(0, 3), (4, 0), (-1, 3)])
def test_image_size_must_be_positive(width, height):
    assert message(lambda: Intrinsics(1.0, 1.0, 0.0, 0.0, width, height)) == (
        f"intrinsics: image size must be positive, got {width}x{height}")


def test_from_matrix_reads_a_3x3_or_9_values():
    for k in (K_ROWS, np.array(K_ROWS), np.array(K_ROWS).reshape(-1).tolist()):
        got = Intrinsics.from_matrix(k, 20, 10)
        assert (got.fx, got.fy, got.cx, got.cy, got.width, got.height) == (100.0, 200.0, 9.5, 4.5, 20, 10)
    assert message(lambda: Intrinsics.from_matrix(np.zeros(8), 20, 10)) == "intrinsics: K needs 9 values, got 8"


def test_scaled_to_keeps_fx_fy_cx_cy_apart():
    """Doubling maps c to (c + 0.5) * 2 - 0.5 (pixel centres) and multiplies each focal length."""
    k = Intrinsics.from_matrix(K_ROWS, 20, 10)
    assert k.scaled_to(20, 10) is k
    big = k.scaled_to(40, 20)
    assert (big.fx, big.fy, big.cx, big.cy, big.width, big.height) == (200.0, 400.0, 19.5, 9.5, 40, 20)
    small = k.scaled_to(10, 5)
    assert (small.fx, small.fy, small.cx, small.cy) == (50.0, 100.0, 4.5, 2.0)
    assert message(lambda: k.scaled_to(30, 10)) == (
        "camera intrinsics is 20x10 but image is 30x10: different aspect ratios, so one is not a scaled version of "
        "the other (is the depth registered to the colour image?)")


def test_same_aspect_boundaries():
    check_same_aspect((100, 1), (101, 1), "a", "b")          # |100 - 101| = exactly 1 % of 100: still the same
    check_same_aspect((1, 1), (1, 1), "a", "b")              # one-pixel sizes are positive
    with pytest.raises(ValueError, match="different aspect ratios"):
        check_same_aspect((100, 1), (102, 1), "a", "b")
    with pytest.raises(ValueError, match="different aspect ratios"):
        check_same_aspect((1, 2), (1, 1), "a", "b")           # 0.5 vs 1: far more than 1 % of 0.5
    for sizes in (((0, 1), (1, 1)), ((1, 0), (1, 1)), ((1, 1), (0, 1)), ((1, 1), (1, 0))):
        (wa, ha), (wb, hb) = sizes
        assert message(lambda s=sizes: check_same_aspect(*s, "depth", "colour")) == (
            f"depth {wa}x{ha} / colour {wb}x{hb}: sizes must be positive")
