"""The class-index image (~/semantic, ~/semantic_color): 8 / 16 bit with their unknown values, computed once per
OutputFrame for every output that draws it."""
import numpy as np
import pytest
import torch

from panoptic_ros.data.categories import Category, CategoryMap
from panoptic_ros.panoptic.result import PanopticResult
from panoptic_ros.stream import OutputFrame, frame
from panoptic_ros.stream.semantic import semantic_from_panoptic, semantic_unknown


def test_unknown_value_and_dtype_follow_the_class_count():
    pan = np.array([[0, 1], [2, 2]], np.int32)
    assert semantic_unknown(255) == 255 and semantic_unknown(256) == 65535
    sem8 = semantic_from_panoptic(pan, [{"id": 1, "category_id": 254}], 255)
    assert sem8.dtype == np.uint8 and sem8.tolist() == [[255, 254], [255, 255]]
    sem16 = semantic_from_panoptic(pan, [{"id": 1, "category_id": 255}], 256)
    assert sem16.dtype == np.uint16 and sem16.tolist() == [[65535, 255], [65535, 65535]]
    with pytest.raises(ValueError, match="65536 classes do not fit a 16-bit semantic image"):
        semantic_from_panoptic(pan, [], 65536)


def test_segments_with_ids_above_the_map_are_listed_and_the_frame_computes_it_once(monkeypatch):
    pan = torch.tensor([[0, 1], [7, 7]], dtype=torch.int32)
    segments = [{"id": 1, "category_id": 1, "isthing": False}, {"id": 7, "category_id": 0, "isthing": True},
                {"id": 9, "category_id": 1, "isthing": True}]          # (a segment with no pixel left)
    cats = CategoryMap([Category(1, "box", True), Category(2, "floor", False)])
    calls = []
    monkeypatch.setattr(frame, "semantic_from_panoptic",
                        lambda *a: calls.append(a) or semantic_from_panoptic(*a))
    f = OutputFrame(PanopticResult(pan, segments), None, cats)
    assert f.semantic.dtype == np.uint8 and f.semantic.tolist() == [[255, 1], [0, 0]]
    assert f.semantic is f.semantic and len(calls) == 1
