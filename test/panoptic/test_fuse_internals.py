"""Building blocks of fuse(): the fast first-argmax and the box -> pixel range rule."""
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
