"""Target encoders on hand-made annotations: boxes, center offsets, ignore regions."""
import numpy as np
import pytest
import torch

from panoptic_ros.data.categories import Category, CategoryMap
from panoptic_ros.data.targets import box_centers, encode_targets

CATS = CategoryMap([Category(3, "disc", True), Category(5, "box", True), Category(9, "sky", False)])
DISC, BOX, SKY = 0, 1, 2  # channel indices (sorted by category id)


def hand_made():
    """6x8 map: sky everywhere, a disc instance, an L-shaped box instance, a crowd and a void pixel."""
    m = np.full((6, 8), 90, np.int32)
    m[1:3, 2:6] = 10                    # disc: x 2..5, y 1..2
    m[4, 0:3] = 20                      # crowd disc
    m[3:6, 6] = 30                      # box: L shape, x 6..7, y 3..5
    m[5, 7] = 30
    m[0, 7] = 0                         # void
    segs = [{"id": 90, "category_id": 9, "iscrowd": 0}, {"id": 10, "category_id": 3, "iscrowd": 0},
            {"id": 20, "category_id": 3, "iscrowd": 1}, {"id": 30, "category_id": 5}]
    return m, segs


def test_boxes_labels_and_pixel_edge_convention():
    m, segs = hand_made()
    t = encode_targets(m, segs, CATS)
    assert t["labels"].tolist() == [DISC, BOX]                     # crowd left out, segments_info order
    assert t["boxes"].tolist() == [[2, 1, 6, 3], [6, 3, 8, 6]]      # x2 = x_max + 1
    assert t["boxes"].dtype == torch.float32 and t["labels"].dtype == torch.int64
    assert box_centers(t["boxes"]).tolist() == [[4.0, 2.0], [7.0, 4.5]]


def test_center_offset_of_a_pixel_points_to_its_box_center():
    m, segs = hand_made()
    t = encode_targets(m, segs, CATS)
    off = t["center_offsets"]
    assert off.shape == (2, 6, 8) and off.dtype == torch.float32
    # pixel (x=2, y=1) has center (2.5, 1.5); the disc box center is (4, 2)
    assert off[:, 1, 2].tolist() == [1.5, 0.5]
    assert off[:, 2, 5].tolist() == [-1.5, -0.5]
    # the L-shaped box: pixel (7, 5) -> center (7, 4.5)
    assert off[:, 5, 7].tolist() == [-0.5, -1.0]
    ys, xs = torch.nonzero(t["instance_map"] >= 0, as_tuple=True)
    centers = box_centers(t["boxes"])[t["instance_map"][ys, xs]]
    landed = torch.stack([xs + 0.5 + off[0, ys, xs], ys + 0.5 + off[1, ys, xs]], 1)
    assert torch.allclose(landed, centers)


def test_ignore_regions_void_and_crowd():
    m, segs = hand_made()
    t = encode_targets(m, segs, CATS)
    sem = t["semantic"]
    assert sem.dtype == torch.int64
    assert sem[0, 7] == 255                        # void
    assert (sem[4, 0:3] == 255).all()              # crowd
    assert sem[1, 2] == DISC and sem[4, 6] == BOX and sem[0, 0] == SKY
    inst = t["instance_map"]
    assert (inst[4, 0:3] == -1).all() and inst[0, 0] == -1 and inst[1, 3] == 0 and inst[5, 7] == 1
    w = t["offset_weight"]
    assert w.sum() == (m == 10).sum() + (m == 30).sum()
    assert (t["center_offsets"][:, 4, 0:3] == 0).all() and w[4, 0] == 0


def test_no_instances_and_torch_input():
    m = torch.full((3, 4), 90, dtype=torch.int32)
    t = encode_targets(m, [{"id": 90, "category_id": 9}, {"id": 10, "category_id": 3}], CATS)
    assert t["boxes"].shape == (0, 4) and t["labels"].shape == (0,)
    assert (t["semantic"] == SKY).all() and (t["offset_weight"] == 0).all()


def test_occluded_instance_box_covers_only_visible_pixels():
    m = np.full((10, 10), 90, np.int32)
    m[0:6, 0:6] = 10
    m[3:10, 3:10] = 11   # occludes the lower-right part of 10
    m[0:3, 0:6] = 10
    segs = [{"id": 90, "category_id": 9}, {"id": 10, "category_id": 3}, {"id": 11, "category_id": 3}]
    t = encode_targets(m, segs, CATS)
    assert t["boxes"].tolist() == [[0, 0, 6, 6], [3, 3, 10, 10]]
    m[3:6, 0:3] = 11     # now 10 is visible only in rows 0..2
    t = encode_targets(m, segs, CATS)
    assert t["boxes"][0].tolist() == [0, 0, 6, 3]


@pytest.mark.parametrize("segs, match", [
    ([{"id": 90, "category_id": 9}], r"segment ids \[10\] are in the panoptic PNG"),
    ([{"id": 90, "category_id": 9}, {"id": 10, "category_id": 4}], "unknown category_id 4"),
    ([{"id": 90, "category_id": 9}, {"id": 10, "category_id": 3}, {"id": 10, "category_id": 3}], "twice"),
])
def test_bad_annotations_raise_clear_errors(segs, match):
    m = np.full((4, 4), 90, np.int32)
    m[0, 0] = 10
    with pytest.raises(ValueError, match=match):
        encode_targets(m, segs, CATS)
