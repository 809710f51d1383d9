"""Building blocks of fuse(): the fast first-argmax and the box -> pixel range rule."""
import math

import pytest
import torch

from panoptic_ros.panoptic.fuse import first_argmax, pixel_ranges


@pytest.mark.parametrize("chunk_bytes", [1, 40, 4 << 20])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_first_argmax_equals_torch_argmax_with_ties(chunk_bytes, dtype):
    block = torch.randint(0, 3, (7, 11, 5)).to(dtype)       # many ties: the first index must win
    best = block.amax(dim=0)
    assert torch.equal(first_argmax(block, best, chunk_bytes=chunk_bytes), block.argmax(dim=0))


def test_first_argmax_many_channels_falls_back():
    block = torch.randn(300, 3, 4)
    assert torch.equal(first_argmax(block, block.amax(0)), block.argmax(0))


def test_pixel_ranges_use_pixel_centers_and_clip():
    boxes = torch.tensor([[0.0, 0, 10, 10], [0.6, 1.4, 5.5, 3.5], [-3, -3, 2, 2], [8, 8, 30, 30], [5, 5, 5, 9]],
                         dtype=torch.float64)
    assert pixel_ranges(boxes, 10, 10) == [(0, 10, 0, 10), (1, 3, 1, 5), (0, 2, 0, 2), (8, 10, 8, 10), (5, 9, 5, 5)]
    assert pixel_ranges(torch.zeros(0, 4), 10, 10) == []


@pytest.mark.parametrize("policy", ["highest_confidence", "smallest_first", "closest_center"])
def test_dense_and_per_box_assignment_agree(policy, monkeypatch):
    """assign_detections decides small grids all at once and large ones box by box: both give the same owners,
    with many exact ties (integer logits, repeated scores, equal boxes) and boxes partly outside the image."""
    import sys

    fuse_module = sys.modules["panoptic_ros.panoptic.fuse"]
    from panoptic_ros.panoptic.fuse import assign_detections
    from panoptic_ros.panoptic.policies import get_policy

    gen = torch.Generator().manual_seed(1)
    for trial in range(30):
        h, w, n = 9 + trial % 5, 11 + trial % 7, 1 + trial % 9
        logits = torch.randint(-2, 3, (4, h, w), generator=gen).float()
        if trial % 4 == 0:
            logits[0, :2] = -math.inf
        xy = torch.randint(-3, max(h, w), (n, 2), generator=gen).float()
        wh = torch.randint(1, 8, (n, 2), generator=gen).float()
        boxes = torch.cat([xy, xy + wh], dim=1).double()
        boxes[n // 2] = boxes[0]
        scores = (torch.randint(1, 4, (n,), generator=gen) / 4).double()
        labels = torch.randint(0, 2, (n,), generator=gen)
        offsets = torch.randint(-2, 3, (2, h, w), generator=gen).float()
        merge = get_policy(policy)
        monkeypatch.setattr(fuse_module, "DENSE_ASSIGN_ELEMENTS", 10**9)
        dense = assign_detections(logits, boxes, scores, labels, merge, offsets)
        monkeypatch.setattr(fuse_module, "DENSE_ASSIGN_ELEMENTS", 0)
        loop = assign_detections(logits, boxes, scores, labels, merge, offsets)
        assert torch.equal(dense[1], loop[1]), trial
        assert torch.equal(dense[0], loop[0]), trial
